"""Single-use keys with a lifetime: Redis SET NX / GETDEL when REDIS_URL is set, else a SQL table.

Used for outstanding SAML AuthnRequest ids, consumed assertion ids and OAuth/OIDC flow state.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from app.extensions import db, redis_client
from app.models.base import utcnow
from app.models.sso import SsoOneTimeId

REDIS_PREFIX = "authy2:sso:"


def put_once(key: str, value: str, ttl: int) -> bool:
    """Store `key` unless present (Redis SET NX, else a table row); False means it was already there."""
    ttl = max(1, int(ttl))
    client = redis_client.client
    if client is not None:
        return bool(client.set(REDIS_PREFIX + key, value, nx=True, ex=ttl))
    now = utcnow()
    db.session.execute(delete(SsoOneTimeId).where(SsoOneTimeId.expires_at < now))
    try:
        with db.session.begin_nested():
            db.session.add(SsoOneTimeId(key=key, value=value, expires_at=now + dt.timedelta(seconds=ttl)))
    except IntegrityError:
        return False
    return True


def take(key: str) -> str | None:
    """Atomically fetch and delete a live key; None when absent, expired or already taken."""
    client = redis_client.client
    if client is not None:
        return client.getdel(REDIS_PREFIX + key)
    value = db.session.execute(
        delete(SsoOneTimeId)
        .where(SsoOneTimeId.key == key, SsoOneTimeId.expires_at >= utcnow())
        .returning(SsoOneTimeId.value)
    ).scalar_one_or_none()
    return value


class StateCache:
    """Authlib's cache interface over the single-use store, so OAuth state lives server-side.

    `get` takes the value (atomic get-and-delete): a state can be redeemed once, even by two
    concurrent callbacks carrying the same cookie. Values hold the PKCE verifier and nonce, which
    therefore never travel in the browser's cookie.
    """

    def get(self, key: str) -> str | None:
        """Take the value (it is gone afterwards)."""
        return take(key)

    def set(self, key: str, value: str, expires_in: int | None = None) -> None:
        """Store a flow's data for `expires_in` seconds."""
        put_once(key, value, expires_in or 600)

    def delete(self, key: str) -> None:
        """Forget a flow (no-op when get already took it)."""
        take(key)


STATE_CACHE = StateCache()

"""The OpenID provider's state: authorization codes, tokens (rotation, reuse detection), consents, claims.

Only hashes of codes and tokens are stored. Views in app/api/oauth2.py drive Authlib, which calls
these functions; they flush and never commit.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from app.extensions import db
from app.models.base import utcnow
from app.models.oauth import OAuthAuthorizationCode, OAuthClient, OAuthConsent, OAuthToken
from app.models.organization import Membership, Organization
from app.models.user import User
from app.security.crypto import DecryptionError, FieldCipher
from app.security.tokens import new_token, sha256_hex
from app.services import audit
from app.services.context import RequestInfo

logger = logging.getLogger(__name__)


def _cfg(name: str) -> int:
    return int(current_app.config[name])


def _for_update(stmt: Any, of: Any) -> Any:
    """Row-lock (only `of`'s rows) on PostgreSQL so concurrent redemptions serialise."""
    if db.session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(of=of)
    return stmt


def find_client(client_id: str | None) -> OAuthClient | None:
    """An active client by client_id."""
    if not client_id or not isinstance(client_id, str) or len(client_id) > 100:
        return None
    return db.session.execute(
        select(OAuthClient).where(OAuthClient.client_id == client_id, OAuthClient.is_active.is_(True))
    ).scalar_one_or_none()


# --- authorization codes -------------------------------------------------------------------------


def save_authorization_code(
    code: str,
    *,
    client: OAuthClient,
    user: User,
    redirect_uri: str,
    scope: str,
    nonce: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
    auth_time: datetime,
) -> OAuthAuthorizationCode:
    """Store a new code (its hash) valid for OAUTH2_CODE_LIFETIME seconds (≤ 60)."""
    now = utcnow()
    row = OAuthAuthorizationCode(
        code_hash=sha256_hex(code),
        client_pk=client.id,
        user_id=user.id,
        redirect_uri=redirect_uri,
        scope=scope,
        nonce=nonce,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method if code_challenge else None,
        auth_time=auth_time,
        created_at=now,
        expires_at=now + timedelta(seconds=_cfg("OAUTH2_CODE_LIFETIME")),
    )
    db.session.add(row)
    db.session.flush()
    return row


def redeem_authorization_code(
    code: str, client: OAuthClient, ctx: RequestInfo
) -> OAuthAuthorizationCode | None:
    """The code if it is live and belongs to `client`, marked used; None otherwise.

    A second redemption revokes every token issued from the first (RFC 6749 §4.1.2).
    """
    if not code or len(code) > 256:
        return None
    row = db.session.execute(
        _for_update(
            select(OAuthAuthorizationCode).where(OAuthAuthorizationCode.code_hash == sha256_hex(code)),
            OAuthAuthorizationCode,
        )
    ).scalar_one_or_none()
    if row is None or row.client_pk != client.id:
        return None
    now = utcnow()
    if row.used_at is not None:
        revoked = revoke_tokens_from_code(row.id)
        audit.record(
            "oauth.code.reuse_detected",
            ctx,
            actor_user_id=row.user_id,
            organization_id=client.organization_id,
            target_type="oauth_client",
            target_id=client.client_id,
            details={"tokens_revoked": revoked},
        )
        return None
    if now >= row.expires_at:
        return None
    row.used_at = now
    db.session.flush()
    return row


def revoke_tokens_from_code(code_id: uuid.UUID) -> int:
    """Revoke every token family that started from this authorization code."""
    families = db.session.execute(
        select(OAuthToken.family_id).where(OAuthToken.authorization_code_id == code_id).distinct()
    ).scalars()
    return sum(_revoke_family_rows(family) for family in list(families))


# --- tokens ----------------------------------------------------------------------------------------


def generate_bearer_token(
    grant_type: str,
    client: OAuthClient,
    user: User | None = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    """A fresh opaque bearer token response; a refresh token only with offline_access."""
    token: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": new_token(32),
        "expires_in": expires_in or _cfg("OAUTH2_ACCESS_TOKEN_LIFETIME"),
    }
    if scope:
        token["scope"] = scope
    scopes = set((scope or "").split())
    if (
        include_refresh_token
        and user is not None
        and "offline_access" in scopes
        and "refresh_token" in client.grant_types
    ):
        token["refresh_token"] = new_token(32)
    return token


def store_token(
    token: dict[str, Any],
    *,
    client: OAuthClient,
    user: User | None,
    grant_type: str,
    family_id: uuid.UUID | None = None,
    authorization_code: OAuthAuthorizationCode | None = None,
    auth_time: datetime | None = None,
    ctx: RequestInfo,
) -> OAuthToken:
    """Persist the hashes of a token response and audit the issuance."""
    now = utcnow()
    row = OAuthToken(
        client_pk=client.id,
        user_id=user.id if user else None,
        family_id=family_id or uuid.uuid4(),
        authorization_code_id=authorization_code.id if authorization_code else None,
        grant_type=grant_type,
        access_token_hash=sha256_hex(token["access_token"]),
        refresh_token_hash=sha256_hex(token["refresh_token"]) if token.get("refresh_token") else None,
        scope=token.get("scope") or "",
        auth_time=auth_time,
        issued_at=now,
        access_expires_at=now + timedelta(seconds=int(token["expires_in"])),
        refresh_expires_at=(
            now + timedelta(seconds=_cfg("OAUTH2_REFRESH_TOKEN_LIFETIME"))
            if token.get("refresh_token")
            else None
        ),
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "oauth.token.issued",
        ctx,
        actor_user_id=user.id if user else None,
        organization_id=client.organization_id,
        target_type="oauth_client",
        target_id=client.client_id,
        details={
            "grant_type": grant_type,
            "scope": row.scope,
            "refresh": row.refresh_token_hash is not None,
            "family": str(row.family_id),
        },
    )
    return row


def find_by_access_token(token: str) -> OAuthToken | None:
    """The row for an access token string (live or not)."""
    if not token or len(token) > 256:
        return None
    return db.session.execute(
        select(OAuthToken).where(OAuthToken.access_token_hash == sha256_hex(token))
    ).scalar_one_or_none()


def find_by_refresh_token(token: str, lock: bool = False) -> OAuthToken | None:
    """The row for a refresh token string (live or not), optionally row-locked."""
    if not token or len(token) > 256:
        return None
    stmt = select(OAuthToken).where(OAuthToken.refresh_token_hash == sha256_hex(token))
    return db.session.execute(_for_update(stmt, OAuthToken) if lock else stmt).scalar_one_or_none()


def access_token_is_live(row: OAuthToken | None) -> bool:
    """Not revoked, not expired, its client still active."""
    return bool(
        row is not None
        and row.revoked_at is None
        and utcnow() < row.access_expires_at
        and row.client.is_active
    )


def _revoke_family_rows(family_id: uuid.UUID) -> int:
    """Mark every row of a family revoked and drop cached rotation responses."""
    result = db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.family_id == family_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.family_id == family_id)
        .values(rotated_response_encrypted=None)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult of an UPDATE


def revoke_token(row: OAuthToken, ctx: RequestInfo, *, whole_family: bool, reason: str) -> int:
    """Revoke one token row, or (for refresh tokens) its whole family; audited."""
    if whole_family:
        count = _revoke_family_rows(row.family_id)
    else:
        count = 0 if row.revoked_at else 1
        row.revoked_at = row.revoked_at or utcnow()
        db.session.flush()
    audit.record(
        "oauth.token.revoked",
        ctx,
        actor_user_id=row.user_id,
        organization_id=row.client.organization_id,
        target_type="oauth_client",
        target_id=row.client.client_id,
        details={"reason": reason, "family": str(row.family_id), "rows": count},
    )
    return count


@dataclass
class RefreshCheck:
    """Outcome of presenting a refresh token: a row to rotate, a cached grace response, or nothing."""

    row: OAuthToken | None = None
    grace_response: dict[str, Any] | None = None


def _response_cipher() -> FieldCipher:
    return FieldCipher(current_app.config["ENCRYPTION_KEY"], "oauth-rotation-cache")


def check_refresh_token(token: str, client: OAuthClient, ctx: RequestInfo) -> RefreshCheck:
    """Validate a presented refresh token for `client`, applying reuse detection.

    - live and unused: returned for rotation;
    - already rotated, within OAUTH2_REFRESH_GRACE_SECONDS: the same new pair again;
    - already rotated, after the window (or family revoked): the family is revoked, nothing returned.
    """
    row = find_by_refresh_token(token, lock=True)
    if row is None or row.client_pk != client.id:
        return RefreshCheck()
    now = utcnow()
    if row.revoked_at is not None or row.refresh_expires_at is None or now >= row.refresh_expires_at:
        return RefreshCheck()
    if row.refresh_used_at is None:
        return RefreshCheck(row=row)
    grace = timedelta(seconds=_cfg("OAUTH2_REFRESH_GRACE_SECONDS"))
    if now - row.refresh_used_at <= grace and row.rotated_response_encrypted:
        try:
            cached = json.loads(_response_cipher().decrypt(row.rotated_response_encrypted))
        except (DecryptionError, ValueError):
            cached = None
        if cached is not None:
            return RefreshCheck(grace_response=cached)
    revoked = _revoke_family_rows(row.family_id)
    audit.record(
        "oauth.refresh_token.reuse_detected",
        ctx,
        actor_user_id=row.user_id,
        organization_id=client.organization_id,
        target_type="oauth_client",
        target_id=client.client_id,
        details={"family": str(row.family_id), "tokens_revoked": revoked},
    )
    return RefreshCheck()


def mark_rotated(old: OAuthToken, response: dict[str, Any]) -> None:
    """Record that `old`'s refresh token was used, caching the new pair (encrypted) for the grace window."""
    old.refresh_used_at = utcnow()
    old.rotated_response_encrypted = _response_cipher().encrypt(json.dumps(response).encode("utf-8"))
    # Older cached responses of the family are no longer needed.
    db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.family_id == old.family_id, OAuthToken.id != old.id)
        .values(rotated_response_encrypted=None)
        .execution_options(synchronize_session="fetch")
    )
    db.session.flush()


# --- consent ----------------------------------------------------------------------------------------


def has_consent(user: User, client: OAuthClient, scope: str) -> bool:
    """Whether the user already approved every requested scope for this client."""
    consent = db.session.execute(
        select(OAuthConsent).where(OAuthConsent.user_id == user.id, OAuthConsent.client_pk == client.id)
    ).scalar_one_or_none()
    return consent is not None and set(scope.split()) <= consent.scopes()


def grant_consent(user: User, client: OAuthClient, scope: str, ctx: RequestInfo) -> OAuthConsent:
    """Remember approval of `scope` (merged with earlier approvals) and audit it."""
    consent = db.session.execute(
        select(OAuthConsent).where(OAuthConsent.user_id == user.id, OAuthConsent.client_pk == client.id)
    ).scalar_one_or_none()
    if consent is None:
        consent = OAuthConsent(user_id=user.id, client_pk=client.id, scope=scope)
        db.session.add(consent)
    else:
        consent.scope = " ".join(sorted(consent.scopes() | set(scope.split())))
        consent.granted_at = utcnow()
    db.session.flush()
    audit.record(
        "oauth.consent.granted",
        ctx,
        actor_user_id=user.id,
        organization_id=client.organization_id,
        target_type="oauth_client",
        target_id=client.client_id,
        details={"scope": scope},
    )
    return consent


def list_consents(user: User) -> list[OAuthConsent]:
    """The user's remembered consents."""
    return list(
        db.session.execute(
            select(OAuthConsent)
            .where(OAuthConsent.user_id == user.id)
            .order_by(OAuthConsent.granted_at.desc())
        ).scalars()
    )


def revoke_consent(user: User, client_id: str, ctx: RequestInfo) -> bool:
    """Forget the user's consent for a client and revoke the tokens it issued to them."""
    client = find_client(client_id) if client_id else None
    if client is None:
        return False
    consent = db.session.execute(
        select(OAuthConsent).where(OAuthConsent.user_id == user.id, OAuthConsent.client_pk == client.id)
    ).scalar_one_or_none()
    if consent is None:
        return False
    db.session.delete(consent)
    db.session.execute(
        update(OAuthToken)
        .where(
            OAuthToken.user_id == user.id, OAuthToken.client_pk == client.id, OAuthToken.revoked_at.is_(None)
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    db.session.flush()
    audit.record(
        "oauth.consent.revoked",
        ctx,
        actor_user_id=user.id,
        organization_id=client.organization_id,
        target_type="oauth_client",
        target_id=client.client_id,
    )
    return True


# --- claims -----------------------------------------------------------------------------------------


def user_claims(user: User, scope: str) -> dict[str, Any]:
    """Claims released for `scope`: sub always; profile, email and organizations by scope."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": str(user.id)}
    if "profile" in scopes:
        claims["name"] = user.name or ""
        claims["preferred_username"] = user.email
        claims["updated_at"] = int(user.updated_at.timestamp()) if user.updated_at else None
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = bool(user.email_verified)
    if "organizations" in scopes:
        rows = db.session.execute(
            select(Organization, Membership.role)
            .join(Membership, Membership.organization_id == Organization.id)
            .where(Membership.user_id == user.id)
            .order_by(Organization.slug)
        ).all()
        claims["organizations"] = [
            {"id": str(org.id), "slug": org.slug, "name": org.name, "role": str(role)} for org, role in rows
        ]
    return {k: v for k, v in claims.items() if v is not None}

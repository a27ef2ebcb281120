"""OAuth client registration and management (operators via CLI, org admins via the API)."""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import errors
from app.extensions import db
from app.models.oauth import GRANT_TYPES, TOKEN_ENDPOINT_AUTH_METHODS, OAuthClient, OAuthToken
from app.models.organization import Organization, Role
from app.models.user import User
from app.security.crypto import keyed_hashes, matches_keyed_hash
from app.services import audit
from app.services.context import RequestInfo

logger = logging.getLogger(__name__)

SUPPORTED_SCOPES = ("openid", "profile", "email", "offline_access", "organizations")
DEFAULT_SCOPE = " ".join(SUPPORTED_SCOPES)
# Standard OIDC scopes for data Authy2 does not hold: accepted in requests and ignored (OIDC Core
# §5.4 says scopes that are not understood SHOULD be ignored); anything else is invalid_scope.
IGNORED_SCOPES = frozenset({"address", "phone"})
SECRET_PURPOSE = "oauth-client-secret"  # noqa: S105 - a key-derivation label, not a secret
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._-]{3,100}$")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_URIS = 20


@dataclass
class ClientWithSecret:
    """A client and its plaintext secret, returned once at creation or rotation."""

    client: OAuthClient
    secret: str | None


def hash_client_secret(secret: str) -> str:
    """The stored form of a client secret: HMAC-SHA-256 under the current ENCRYPTION_KEY."""
    return keyed_hashes(current_app.config["ENCRYPTION_KEY"], SECRET_PURPOSE, secret)[0]


def check_client_secret(client: OAuthClient, secret: str | None) -> bool:
    """Constant-time check of a presented secret (any configured ENCRYPTION_KEY may have hashed it)."""
    if client.is_public or not client.secret_hash or not secret or len(secret) > 512:
        return False
    return matches_keyed_hash(
        current_app.config["ENCRYPTION_KEY"], SECRET_PURPOSE, secret, client.secret_hash
    )


def new_client_secret() -> str:
    """A fresh secret with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def validate_redirect_uri(uri: str) -> str | None:
    """Why `uri` cannot be registered (None when it can): absolute, no fragment or userinfo,
    https, or http only on a loopback host."""
    if not isinstance(uri, str) or not uri or len(uri) > 2000 or uri != uri.strip():
        return "must be a non-empty absolute URI without surrounding spaces"
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in uri):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return "is not a valid URI"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an absolute http(s) URI"
    if parts.fragment or "#" in uri:
        return "must not contain a fragment"
    if "@" in parts.netloc:
        return "must not contain user information"
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return "must use https (http is allowed only for localhost/127.0.0.1)"
    return None


def _validate_settings(data: dict[str, Any]) -> None:
    """Cross-field rules for a client's settings; raises ValidationFailed."""
    problems: dict[str, list[str]] = {}
    method = data["token_endpoint_auth_method"]
    if method not in TOKEN_ENDPOINT_AUTH_METHODS:
        problems["token_endpoint_auth_method"] = [f"Must be one of {', '.join(TOKEN_ENDPOINT_AUTH_METHODS)}."]
    grants = data["grant_types"]
    unknown = [g for g in grants if g not in GRANT_TYPES]
    if unknown or not grants:
        problems["grant_types"] = [f"Must be a non-empty subset of {', '.join(GRANT_TYPES)}."]
    if method == "none" and "client_credentials" in grants:
        problems["grant_types"] = ["A public client cannot use client_credentials."]
    if "refresh_token" in grants and "authorization_code" not in grants:
        problems["grant_types"] = ["refresh_token needs authorization_code."]
    scopes = data["scope"].split()
    bad_scopes = [s for s in scopes if s not in SUPPORTED_SCOPES]
    if bad_scopes or not scopes:
        problems["scope"] = [f"Must be a space-separated subset of {' '.join(SUPPORTED_SCOPES)}."]
    for field in ("redirect_uris", "post_logout_redirect_uris"):
        uris = data[field]
        if len(uris) > MAX_URIS:
            problems[field] = [f"At most {MAX_URIS} URIs."]
            continue
        messages = [f"{u!r} {why}" for u in uris if (why := validate_redirect_uri(u))]
        if messages:
            problems[field] = messages
    if "authorization_code" in grants and not data["redirect_uris"]:
        problems["redirect_uris"] = ["At least one redirect URI is needed for authorization_code."]
    if problems:
        raise errors.ValidationFailed(details=problems)


def _require_org_admin(org_id: uuid.UUID, user: User) -> Organization:
    """The organization if `user` is its admin or owner (the shared check: 404 non-member, 403 member)."""
    from app.services.organizations import require_membership

    return require_membership(org_id, user, Role.ADMIN, action="oauth_client.manage").organization


def _settings_from(data: dict[str, Any], base: OAuthClient | None = None) -> dict[str, Any]:
    """Merge `data` over the client's current settings (or the defaults)."""
    defaults: dict[str, Any] = {
        "redirect_uris": [],
        "post_logout_redirect_uris": [],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": DEFAULT_SCOPE,
        "token_endpoint_auth_method": "client_secret_basic",
        "require_pkce": True,
    }
    if base is not None:
        defaults = {
            "redirect_uris": list(base.redirect_uris),
            "post_logout_redirect_uris": list(base.post_logout_redirect_uris),
            "grant_types": list(base.grant_types),
            "scope": base.scope,
            "token_endpoint_auth_method": base.token_endpoint_auth_method,
            "require_pkce": base.require_pkce,
        }
    merged = {**defaults, **{k: v for k, v in data.items() if k in defaults}}
    merged["scope"] = " ".join(dict.fromkeys(merged["scope"].split()))
    merged["grant_types"] = list(dict.fromkeys(merged["grant_types"]))
    merged["redirect_uris"] = list(dict.fromkeys(merged["redirect_uris"]))
    merged["post_logout_redirect_uris"] = list(dict.fromkeys(merged["post_logout_redirect_uris"]))
    if merged["token_endpoint_auth_method"] == "none":  # noqa: S105 - an auth method name
        merged["require_pkce"] = True  # public clients always need PKCE
    return merged


def create_client(
    organization: Organization,
    data: dict[str, Any],
    ctx: RequestInfo,
    *,
    actor: User | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> ClientWithSecret:
    """Register a client; returns the plaintext secret once (None for public clients)."""
    settings = _settings_from(data)
    _validate_settings(settings)
    if client_id is not None and not CLIENT_ID_RE.match(client_id):
        raise errors.ValidationFailed(details={"client_id": ["3-100 characters of A-Z a-z 0-9 . _ -"]})
    secret = None
    if settings["token_endpoint_auth_method"] != "none":  # noqa: S105 - an auth method name
        secret = client_secret or new_client_secret()
    client = OAuthClient(
        client_id=client_id or "c-" + secrets.token_urlsafe(16),
        organization_id=organization.id,
        name=data["name"],
        secret_hash=hash_client_secret(secret) if secret else None,
        created_by_user_id=actor.id if actor else None,
        **settings,
    )
    db.session.add(client)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        raise errors.Conflict("A client with this client_id already exists") from exc
    audit.record(
        "oauth.client.created",
        ctx,
        actor_user_id=actor.id if actor else None,
        organization_id=organization.id,
        target_type="oauth_client",
        target_id=client.client_id,
        details={"name": client.name, "auth_method": client.token_endpoint_auth_method},
    )
    return ClientWithSecret(client, secret)


def get_org_client(organization: Organization, client_id: str) -> OAuthClient:
    """A client of this organization by client_id; another org's client is simply not found."""
    if not client_id or len(client_id) > 100:
        raise errors.NotFound("Client not found")
    client = db.session.execute(
        select(OAuthClient).where(
            OAuthClient.organization_id == organization.id, OAuthClient.client_id == client_id
        )
    ).scalar_one_or_none()
    if client is None:
        raise errors.NotFound("Client not found")
    return client


def list_org_clients(organization: Organization, page: int, per_page: int) -> tuple[list[OAuthClient], int]:
    """A page of the organization's clients, oldest first, and the total."""
    base = select(OAuthClient).where(OAuthClient.organization_id == organization.id)
    total = db.session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = db.session.execute(
        base.order_by(OAuthClient.created_at, OAuthClient.client_id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).scalars()
    return list(rows), total


def update_client(client: OAuthClient, data: dict[str, Any], ctx: RequestInfo, actor: User) -> OAuthClient:
    """Change a client's settings (never its secret: see rotate_secret)."""
    if (
        "token_endpoint_auth_method" in data
        and data["token_endpoint_auth_method"] != client.token_endpoint_auth_method
    ):
        raise errors.ValidationFailed(
            details={"token_endpoint_auth_method": ["Cannot be changed; register a new client instead."]}
        )
    settings = _settings_from(data, client)
    _validate_settings(settings)
    for key, value in settings.items():
        setattr(client, key, value)
    for key in ("name", "is_active"):
        if key in data:
            setattr(client, key, data[key])
    if data.get("is_active") is False:
        _revoke_client_tokens(client)
    db.session.flush()
    audit.record(
        "oauth.client.updated",
        ctx,
        actor_user_id=actor.id,
        organization_id=client.organization_id,
        target_type="oauth_client",
        target_id=client.client_id,
        details={"fields": sorted(data)},
    )
    return client


def _revoke_client_tokens(client: OAuthClient) -> int:
    """Revoke every live token of a client."""
    from app.models.base import utcnow

    rows = db.session.execute(
        select(OAuthToken).where(OAuthToken.client_pk == client.id, OAuthToken.revoked_at.is_(None))
    ).scalars()
    count = 0
    for row in rows:
        row.revoked_at = utcnow()
        count += 1
    return count


def delete_client(client: OAuthClient, ctx: RequestInfo, actor: User) -> None:
    """Delete a client and (by cascade) its codes, tokens and consents."""
    audit.record(
        "oauth.client.deleted",
        ctx,
        actor_user_id=actor.id,
        organization_id=client.organization_id,
        target_type="oauth_client",
        target_id=client.client_id,
    )
    db.session.delete(client)
    db.session.flush()


def rotate_secret(client: OAuthClient, ctx: RequestInfo, actor: User | None) -> ClientWithSecret:
    """Replace the secret (the old one stops working at once); the new one is returned once."""
    if client.is_public:
        raise errors.BadRequest("A public client has no secret")
    secret = new_client_secret()
    client.secret_hash = hash_client_secret(secret)
    db.session.flush()
    audit.record(
        "oauth.client.secret_rotated",
        ctx,
        actor_user_id=actor.id if actor else None,
        organization_id=client.organization_id,
        target_type="oauth_client",
        target_id=client.client_id,
    )
    return ClientWithSecret(client, secret)

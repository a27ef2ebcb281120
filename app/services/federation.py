"""Federated sign-in: social providers (Google, GitHub, Microsoft) and the account-linking rules.

Rules (DESIGN §6):
- An identity is found by (provider, subject) only — never by email. Microsoft's subject is
  `<tid>:<oid>` because tenants may set the email claim freely.
- A new identity joins an existing account only when the provider asserts the address is verified
  (GitHub: the primary address, marked verified by /user/emails). Otherwise the sign-in is refused
  rather than taking the account over.
- When a verified identity joins an account whose own address was never verified, that account's
  password is removed and its sessions revoked: whoever registered it could not prove the address
  (pre-hijacking defence); the provider just did.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from flask import Flask, current_app
from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import errors
from app.extensions import db
from app.models.base import utcnow
from app.models.identity import ExternalIdentity
from app.models.user import User
from app.schemas.fields import normalize_email
from app.services import audit
from app.services.auth import LoginResult, start_session
from app.services.context import RequestInfo
from app.services.single_use import STATE_CACHE
from app.services.users import find_user_by_email
from app.sessions import get_store

logger = logging.getLogger(__name__)

SOCIAL_PROVIDERS = ("google", "github", "microsoft")
OIDC_PROVIDERS = frozenset({"google", "microsoft"})
CLIENTS_KEY = "authy2_oauth_clients"
HTTP_TIMEOUT = 10
MICROSOFT_DISCOVERY = "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"


class FederationError(Exception):
    """A sign-in that must end on FRONTEND_URL with `?error=<code>` (never a 500)."""

    def __init__(self, code: str, detail: str = "") -> None:
        """`code` is a short machine-readable reason shown to the frontend."""
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass(frozen=True)
class ExternalProfile:
    """What a provider asserted about the person signing in."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None = None


# ---------------------------------------------------------------------------- provider clients


def provider_configured(app: Flask, provider: str) -> bool:
    """Whether a social provider has both a client id and a secret."""
    if provider not in SOCIAL_PROVIDERS:
        return False
    prefix = provider.upper()
    return bool(app.config.get(f"{prefix}_CLIENT_ID") and app.config.get(f"{prefix}_CLIENT_SECRET"))


def _client_kwargs(scope: str) -> dict[str, Any]:
    """Client options: PKCE S256 everywhere, bounded network waits."""
    return {"scope": scope, "code_challenge_method": "S256", "timeout": HTTP_TIMEOUT}


def _integration(name: str) -> FlaskIntegration:
    """Authlib's Flask glue with server-side, single-use state that expires after SSO_REQUEST_TTL."""
    integration = FlaskIntegration(name, cache=STATE_CACHE)
    integration.expires_in = current_app.config.get("SSO_REQUEST_TTL", 600)
    return integration


def build_oidc_client(
    name: str, client_id: str, client_secret: str, discovery_url: str, scope: str = "openid email profile"
) -> FlaskOAuth2App:
    """An Authlib Flask OIDC client (discovery, nonce, PKCE); shared by social and enterprise OIDC."""
    return FlaskOAuth2App(
        _integration(name),
        name,
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=discovery_url,
        client_kwargs=_client_kwargs(scope),
    )


def _build_social_client(app: Flask, provider: str) -> FlaskOAuth2App:
    cfg = app.config
    if provider == "google":
        return build_oidc_client(
            "google", cfg["GOOGLE_CLIENT_ID"], cfg["GOOGLE_CLIENT_SECRET"], cfg["GOOGLE_DISCOVERY_URL"]
        )
    if provider == "microsoft":
        url = cfg.get("MICROSOFT_DISCOVERY_URL") or MICROSOFT_DISCOVERY.format(
            tenant=cfg.get("MICROSOFT_TENANT") or "common"
        )
        return build_oidc_client("microsoft", cfg["MICROSOFT_CLIENT_ID"], cfg["MICROSOFT_CLIENT_SECRET"], url)
    return FlaskOAuth2App(
        _integration("github"),
        "github",
        client_id=cfg["GITHUB_CLIENT_ID"],
        client_secret=cfg["GITHUB_CLIENT_SECRET"],
        authorize_url=cfg["GITHUB_AUTHORIZE_URL"],
        access_token_url=cfg["GITHUB_TOKEN_URL"],
        api_base_url=cfg["GITHUB_API_BASE_URL"],
        client_kwargs=_client_kwargs("read:user user:email"),
    )


def social_client(provider: str) -> FlaskOAuth2App:
    """The configured client of a social provider; NotFound when it is unknown or unconfigured."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app, for caching
    if not provider_configured(app, provider):
        raise errors.NotFound(f"Sign-in provider '{provider[:40]}' is not available")
    clients: dict[str, FlaskOAuth2App] = app.extensions.setdefault(CLIENTS_KEY, {})
    if provider not in clients:
        clients[provider] = _build_social_client(app, provider)
    return clients[provider]


def callback_url(path: str) -> str:
    """An absolute URL on this service, built from PUBLIC_BASE_URL (never from the Host header)."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def safe_next(candidate: str | None, frontend_url: str) -> str:
    """`candidate` if it is an absolute URL under FRONTEND_URL (origin + path prefix), else FRONTEND_URL."""
    if not candidate or len(candidate) > 2048 or any(ord(ch) < 0x21 or ch == "\\" for ch in candidate):
        return frontend_url
    try:
        want = urlsplit(frontend_url)
        got = urlsplit(candidate)
        got_port, want_port = got.port, want.port
    except ValueError:
        return frontend_url
    if (got.scheme, got.hostname, got_port) != (want.scheme, want.hostname, want_port) or got.username:
        return frontend_url
    base_path = want.path.rstrip("/")
    if base_path and not (got.path == base_path or got.path.startswith(base_path + "/")):
        return frontend_url
    return candidate


# ---------------------------------------------------------------------------- provider profiles


def clean_email(raw: Any) -> str | None:
    """A provider's email claim, normalised; None when missing or not an address."""
    if not isinstance(raw, str) or not raw or len(raw) > 320:
        return None
    try:
        return normalize_email(raw)
    except ValidationError:
        return None


def clean_name(raw: Any) -> str | None:
    """A display name without control characters, at most 200 characters."""
    if not isinstance(raw, str):
        return None
    text = "".join(ch for ch in raw if ch.isprintable()).strip()
    return text[:200] or None


def _claim_str(claims: dict[str, Any], name: str, limit: int = 128) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise FederationError("invalid_token", f"missing or malformed '{name}' claim")
    return value


def profile_from_google(claims: dict[str, Any]) -> ExternalProfile:
    """Google: subject is `sub`; the email counts only when `email_verified` is true."""
    return ExternalProfile(
        provider="google",
        subject=_claim_str(claims, "sub", 255),
        email=clean_email(claims.get("email")),
        email_verified=claims.get("email_verified") is True,
        name=clean_name(claims.get("name")),
    )


def profile_from_microsoft(claims: dict[str, Any]) -> ExternalProfile:
    """Microsoft: subject is tenant id + object id; `email` is tenant-controlled, so verified only
    when the token says so (`email_verified` or `xms_edov`, the domain-owner-verified claim)."""
    tid = _claim_str(claims, "tid")
    oid = _claim_str(claims, "oid")
    email = clean_email(claims.get("email"))
    verified = claims.get("email_verified") is True or claims.get("xms_edov") is True
    return ExternalProfile(
        provider="microsoft",
        subject=f"{tid}:{oid}",
        email=email,
        email_verified=bool(email) and verified,
        name=clean_name(claims.get("name")),
    )


def microsoft_issuer_validator(metadata_issuer: str):  # noqa: ANN201 - an Authlib claim validator
    """Validate `iss` against the discovery issuer, whose `{tenantid}` template the token's `tid` fills."""

    def validate(claims: dict[str, Any], value: Any) -> bool:
        tid = claims.get("tid")
        if not isinstance(tid, str) or not tid:
            return False
        return value == metadata_issuer.replace("{tenantid}", tid)

    return validate


def profile_from_github(client: FlaskOAuth2App, token: dict[str, Any]) -> ExternalProfile:
    """GitHub: subject is the numeric user id; the email is the primary one, if verified."""
    try:
        user_resp = client.get("user", token=token, timeout=HTTP_TIMEOUT)
        emails_resp = client.get("user/emails", token=token, timeout=HTTP_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any transport failure is a provider error
        raise FederationError("provider_error", f"GitHub API unreachable: {type(exc).__name__}") from exc
    if user_resp.status_code != 200 or emails_resp.status_code != 200:
        raise FederationError("provider_error", "GitHub API refused the token")
    try:
        user = user_resp.json()
        emails = emails_resp.json()
    except ValueError as exc:
        raise FederationError("provider_error", "GitHub API answered with malformed JSON") from exc
    if not isinstance(user, dict) or not isinstance(emails, list):
        raise FederationError("provider_error", "GitHub API answered with an unexpected shape")
    gh_id = user.get("id")
    if isinstance(gh_id, bool) or not isinstance(gh_id, int | str) or not str(gh_id).isdigit():
        raise FederationError("provider_error", "GitHub user has no numeric id")
    primary = next((e for e in emails if isinstance(e, dict) and e.get("primary") is True), None)
    email = clean_email(primary.get("email")) if primary else None
    verified = bool(primary) and primary.get("verified") is True and email is not None
    return ExternalProfile(
        provider="github",
        subject=str(gh_id),
        email=email,
        email_verified=verified,
        name=clean_name(user.get("name") or user.get("login")),
    )


# ---------------------------------------------------------------------------- linking rules


def find_identity(provider: str, subject: str) -> ExternalIdentity | None:
    """The identity keyed by (provider, subject)."""
    return db.session.execute(
        select(ExternalIdentity).where(
            ExternalIdentity.provider == provider, ExternalIdentity.subject == subject
        )
    ).scalar_one_or_none()


def add_identity(user: User, profile: ExternalProfile, ctx: RequestInfo, reason: str) -> ExternalIdentity:
    """Attach a new (provider, subject) identity to `user` and audit the link."""
    identity = ExternalIdentity(
        user_id=user.id,
        provider=profile.provider,
        subject=profile.subject,
        email=profile.email,
        email_verified=profile.email_verified,
        last_login_at=utcnow(),
    )
    db.session.add(identity)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise FederationError("identity_in_use", "identity linked concurrently") from exc
    audit.record(
        "identity.linked",
        ctx,
        actor_user_id=user.id,
        target_type="identity",
        target_id=identity.id,
        details={"provider": profile.provider, "reason": reason},
    )
    return identity


def _claim_unverified_account(user: User, ctx: RequestInfo) -> None:
    """The provider proved the address; a password set by someone who never did is dropped."""
    dropped = bool(user.password_hash)
    user.email_verified = True
    if dropped:
        user.password_hash = None
        user.password_changed_at = utcnow()
        get_store().revoke_all_for_user(str(user.id))
    audit.record(
        "user.email_verified_by_provider",
        ctx,
        actor_user_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"password_removed": dropped},
    )


def resolve_user(
    profile: ExternalProfile, ctx: RequestInfo, *, allow_create: bool = True
) -> tuple[User, ExternalIdentity, bool]:
    """Find or create the account for an external profile: (user, identity, created)."""
    identity = find_identity(profile.provider, profile.subject)
    if identity is not None:
        user = db.session.get(User, identity.user_id)
        if user is None or not user.is_active:
            raise FederationError("account_disabled")
        identity.email = profile.email
        identity.email_verified = profile.email_verified
        identity.last_login_at = utcnow()
        return user, identity, False
    if not profile.email:
        raise FederationError("email_required", "the provider did not share an email address")
    existing = find_user_by_email(profile.email)
    if existing is not None:
        if not profile.email_verified:
            raise FederationError(
                "email_not_verified",
                "an account with this email exists and the provider did not verify the address",
            )
        if not existing.is_active:
            raise FederationError("account_disabled")
        if not existing.email_verified:
            _claim_unverified_account(existing, ctx)
        return existing, add_identity(existing, profile, ctx, "verified_email"), False
    if not allow_create:
        raise FederationError("account_not_found")
    user = User(
        email=profile.email, name=profile.name, password_hash=None, email_verified=profile.email_verified
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise FederationError("account_conflict", "the address was registered concurrently") from exc
    audit.record(
        "user.registered",
        ctx,
        actor_user_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"method": profile.provider.split(":", 1)[0]},
    )
    return user, add_identity(user, profile, ctx, "new_account"), True


def sign_in(profile: ExternalProfile, auth_method: str, ctx: RequestInfo) -> LoginResult:
    """Resolve the account of an external profile and open an Authy2 session for it."""
    user, identity, created = resolve_user(profile, ctx)
    audit.record(
        "auth.external.login",
        ctx,
        actor_user_id=user.id,
        target_type="identity",
        target_id=identity.id,
        details={"provider": profile.provider, "new_account": created},
    )
    return start_session(user, auth_method, ctx)


def link_identity(user: User, profile: ExternalProfile, ctx: RequestInfo) -> ExternalIdentity:
    """Attach an external identity to a signed-in user; refused if it belongs to someone else."""
    identity = find_identity(profile.provider, profile.subject)
    if identity is not None:
        if identity.user_id != user.id:
            raise FederationError("identity_in_use", "this identity is linked to another account")
        identity.last_login_at = utcnow()
        return identity
    return add_identity(user, profile, ctx, "user_request")


def record_failure(
    provider: str, code: str, ctx: RequestInfo, organization_id: uuid.UUID | None = None
) -> None:
    """Audit a refused external sign-in (the reason code only, never provider data)."""
    audit.record(
        "auth.external.failed",
        ctx,
        organization_id=organization_id,
        details={"provider": provider, "reason": code},
    )


def list_identities(user: User) -> list[ExternalIdentity]:
    """The user's linked identities, oldest first."""
    return list(
        db.session.execute(
            select(ExternalIdentity)
            .where(ExternalIdentity.user_id == user.id)
            .order_by(ExternalIdentity.created_at, ExternalIdentity.id)
        ).scalars()
    )


def unlink_identity(user: User, identity_id: str, ctx: RequestInfo) -> None:
    """Remove one of the user's identities, unless it is their last way to sign in (409)."""
    try:
        uid = uuid.UUID(identity_id)
    except (ValueError, TypeError) as exc:
        raise errors.NotFound("Identity not found") from exc
    identity = db.session.get(ExternalIdentity, uid)
    if identity is None or identity.user_id != user.id:
        raise errors.NotFound("Identity not found")
    # Lock the account row so two concurrent unlinks cannot both pass the "last way in" check.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    count = db.session.execute(
        select(func.count()).select_from(ExternalIdentity).where(ExternalIdentity.user_id == user.id)
    ).scalar_one()
    if not user.password_hash and count <= 1:
        raise errors.Conflict(
            "This is your last way to sign in: set a password or link another provider first"
        )
    db.session.delete(identity)
    db.session.flush()
    audit.record(
        "identity.unlinked",
        ctx,
        actor_user_id=user.id,
        target_type="identity",
        target_id=uid,
        details={"provider": identity.provider},
    )

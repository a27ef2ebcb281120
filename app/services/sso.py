"""Enterprise SSO: per-organization SAML/OIDC connections, home-realm discovery, JIT provisioning.

Linking rules for enterprise identities (stricter than social login, because an organization's
claim on an email domain is not verified by Authy2):
- An identity is keyed by (`saml:<connection id>` | `oidc:<connection id>`, NameID | sub).
- The asserted email must be in one of the connection's domains (when it has any).
- A new identity joins an existing account only if that account is already a member of the
  organization; otherwise the sign-in is refused (an org cannot take over outside accounts).
- Unknown emails get a new password-less account and a membership with the default role (JIT).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import errors
from app.extensions import db
from app.models.base import utcnow
from app.models.organization import Membership, Organization, Role
from app.models.sso import SsoConnection, SsoDomain, SsoType
from app.models.user import User
from app.security.sso_secrets import decrypt_sso_secret, encrypt_sso_secret
from app.services import audit
from app.services.auth import LoginResult, start_session
from app.services.context import RequestInfo
from app.services.federation import (
    ExternalProfile,
    FederationError,
    add_identity,
    clean_email,
    clean_name,
    find_identity,
)
from app.services.single_use import put_once, take
from app.services.users import find_user_by_email

logger = logging.getLogger(__name__)

SAML_FIELDS = ("idp_entity_id", "idp_sso_url", "idp_x509_cert")
OIDC_FIELDS = ("oidc_issuer", "oidc_discovery_url", "oidc_client_id", "oidc_scopes")
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)


# ------------------------------------------------------------------------------ access control


def _require_org_admin(org_id: str, user: User) -> Organization:
    """The organization if `user` is its admin or owner (the shared check: 404 non-member, 403 member)."""
    from app.services.organizations import require_membership

    return require_membership(org_id, user, Role.ADMIN, action="sso.manage").organization


# ------------------------------------------------------------------------------ connections


def connection_for_org(org: Organization) -> SsoConnection | None:
    """The organization's connection, if any."""
    return db.session.execute(
        select(SsoConnection).where(SsoConnection.organization_id == org.id)
    ).scalar_one_or_none()


def get_connection(org_id: str, actor: User) -> tuple[Organization, SsoConnection]:
    """The connection of an org the actor administers; 404 when none is configured."""
    org = _require_org_admin(org_id, actor)
    conn = connection_for_org(org)
    if conn is None:
        raise errors.NotFound("This organization has no SSO connection")
    return org, conn


def _generate_sp_keypair(common_name: str) -> tuple[str, str]:
    """A fresh RSA-2048 key and a self-signed certificate (PEM) for the SAML SP."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def normalize_domain(raw: str) -> str:
    """A lower-case ASCII (IDNA) domain name, or ValueError."""
    text = raw.strip().lower().rstrip(".")
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(raw) from exc
    if not DOMAIN_RE.match(text):
        raise ValueError(raw)
    return text


def _set_domains(conn: SsoConnection, domains: list[str]) -> None:
    """Replace the connection's domains; a domain already routed to another org is a 409."""
    wanted = sorted(set(domains))
    if wanted:
        taken = db.session.execute(
            select(SsoDomain.domain).where(SsoDomain.domain.in_(wanted), SsoDomain.connection_id != conn.id)
        ).scalars()
        clash = sorted(taken)
        if clash:
            raise errors.Conflict(
                "An email domain is already routed to another organization",
                {"email_domains": [f"'{d}' is already used by another SSO connection." for d in clash]},
            )
    conn.domains = [d for d in conn.domains if d.domain in wanted]
    have = {d.domain for d in conn.domains}
    conn.domains.extend(SsoDomain(domain=d) for d in wanted if d not in have)


def put_connection(org_id: str, actor: User, data: dict[str, Any], ctx: RequestInfo) -> SsoConnection:
    """Create or replace the organization's connection from validated input."""
    org = _require_org_admin(org_id, actor)
    conn = connection_for_org(org)
    created = conn is None
    if conn is None:
        conn = SsoConnection(organization_id=org.id, type=data["type"])
        db.session.add(conn)
    previous_type = conn.type
    conn.type = data["type"]
    conn.enabled = data["enabled"]
    conn.default_role = data["default_role"]
    conn.attribute_mapping = dict(data["attribute_mapping"])
    conn.allow_idp_initiated = data["allow_idp_initiated"]
    if conn.type == SsoType.SAML:
        for name in SAML_FIELDS:
            setattr(conn, name, data[name])
        for name in OIDC_FIELDS:
            setattr(conn, name, None)
        conn.oidc_client_secret_encrypted = None
        if not conn.sp_private_key_encrypted or not conn.sp_certificate:
            key_pem, cert_pem = _generate_sp_keypair(f"Authy2 SAML SP {org.slug}")
            conn.sp_private_key_encrypted = encrypt_sso_secret(key_pem)
            conn.sp_certificate = cert_pem
    else:
        secret = data.get("client_secret")
        same_client = previous_type == SsoType.OIDC and conn.oidc_client_id == data["oidc_client_id"]
        if secret:
            conn.oidc_client_secret_encrypted = encrypt_sso_secret(secret)
        elif not (same_client and conn.oidc_client_secret_encrypted):
            raise errors.ValidationFailed(
                details={
                    "client_secret": ["Required when creating an OIDC connection or changing client_id."]
                }
            )
        for name in OIDC_FIELDS:
            setattr(conn, name, data[name])
        for name in SAML_FIELDS:
            setattr(conn, name, None)
    db.session.flush()
    _set_domains(conn, data["email_domains"])
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise errors.Conflict("An email domain or the connection was changed concurrently") from exc
    audit.record(
        "sso.connection_created" if created else "sso.connection_updated",
        ctx,
        actor_user_id=actor.id,
        organization_id=org.id,
        target_type="sso_connection",
        target_id=conn.id,
        details={
            "type": conn.type,
            "enabled": conn.enabled,
            "domains": sorted(d.domain for d in conn.domains),
            "secret_changed": bool(data.get("client_secret")),
        },
    )
    return conn


def delete_connection(org_id: str, actor: User, ctx: RequestInfo) -> None:
    """Remove the connection (its domains go with it; existing accounts stay)."""
    org, conn = get_connection(org_id, actor)
    conn_id = conn.id
    db.session.delete(conn)
    db.session.flush()
    audit.record(
        "sso.connection_deleted",
        ctx,
        actor_user_id=actor.id,
        organization_id=org.id,
        target_type="sso_connection",
        target_id=conn_id,
    )


def enabled_connection_by_slug(slug: str, kind: str) -> tuple[Organization, SsoConnection]:
    """The enabled connection of type `kind` of the org with this slug, else 404."""
    if not slug or len(slug) > 100:
        raise errors.NotFound("SSO connection not found")
    org = db.session.execute(select(Organization).where(Organization.slug == slug)).scalar_one_or_none()
    conn = connection_for_org(org) if org is not None else None
    if org is None or conn is None or not conn.enabled or conn.type != kind:
        raise errors.NotFound("SSO connection not found")
    return org, conn


def oidc_client_secret(conn: SsoConnection) -> str:
    """The decrypted client secret of an OIDC connection."""
    return decrypt_sso_secret(conn.oidc_client_secret_encrypted or "")


def sp_private_key(conn: SsoConnection) -> str:
    """The decrypted SAML SP private key."""
    return decrypt_sso_secret(conn.sp_private_key_encrypted or "")


def discover(email: str) -> tuple[Organization, SsoConnection] | None:
    """Home-realm discovery: the enabled connection that the email's domain routes to."""
    domain = email.rsplit("@", 1)[-1].lower()
    row = db.session.execute(
        select(Organization, SsoConnection)
        .join(SsoConnection, SsoConnection.organization_id == Organization.id)
        .join(SsoDomain, SsoDomain.connection_id == SsoConnection.id)
        .where(SsoDomain.domain == domain, SsoConnection.enabled.is_(True))
    ).first()
    return (row[0], row[1]) if row else None


# ------------------------------------------------------------------------------ single-use ids


def remember_flow(kind: str, conn: SsoConnection, request_id: str, flow: dict[str, Any]) -> None:
    """Keep an outgoing request (SAML AuthnRequest id) answerable once, for SSO_REQUEST_TTL seconds."""
    put_once(f"{kind}:req:{conn.id}:{request_id}", json.dumps(flow), current_app.config["SSO_REQUEST_TTL"])


def consume_flow(kind: str, conn: SsoConnection, request_id: str) -> dict[str, Any] | None:
    """The flow remembered for `request_id`, removed so that it cannot be answered twice."""
    if not request_id or len(request_id) > 256:
        return None
    raw = take(f"{kind}:req:{conn.id}:{request_id}")
    if raw is None:
        return None
    try:
        flow = json.loads(raw)
    except ValueError:
        return None
    return flow if isinstance(flow, dict) else None


def consume_assertion_id(conn: SsoConnection, assertion_id: str, not_on_or_after: int | None) -> bool:
    """Record a consumed assertion id until it expires; False when it was seen before (replay)."""
    if not assertion_id:
        return False
    now = int(utcnow().timestamp())
    # Keep it past NotOnOrAfter plus python3-saml's allowed clock drift, so it can never be re-accepted.
    ttl = (not_on_or_after - now if not_on_or_after else 3600) + 600
    return put_once(f"saml:assertion:{conn.id}:{assertion_id}", "1", max(ttl, 600))


# ------------------------------------------------------------------------------ sign-in


def _mapped(values: dict[str, Any], mapping: dict[str, Any], field: str, default: str) -> str | None:
    """The first string value of the attribute mapped to `field` (SAML gives lists, OIDC scalars)."""
    name = mapping.get(field) or default
    value = values.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and value.strip() else None


def profile_from_assertion(
    conn: SsoConnection, subject: str, values: dict[str, Any], email_default: str = "email"
) -> ExternalProfile:
    """An enterprise profile: subject as given, email/name through the connection's attribute mapping."""
    mapping = conn.attribute_mapping or {}
    email = clean_email(_mapped(values, mapping, "email", email_default))
    name = _mapped(values, mapping, "name", "name")
    if not name:
        first = _mapped(values, mapping, "first_name", "given_name") or ""
        last = _mapped(values, mapping, "last_name", "family_name") or ""
        name = f"{first} {last}".strip() or None
    if not subject or len(subject) > 255:
        raise FederationError("invalid_response", "missing or oversized subject")
    return ExternalProfile(
        provider=f"{conn.type}:{conn.id}",
        subject=subject,
        email=email,
        email_verified=False,
        name=clean_name(name),
    )


def _ensure_membership(org: Organization, user: User, conn: SsoConnection, ctx: RequestInfo) -> None:
    exists = db.session.execute(
        select(func.count())
        .select_from(Membership)
        .where(Membership.organization_id == org.id, Membership.user_id == user.id)
    ).scalar_one()
    if exists:
        return
    role = Role(conn.default_role) if conn.default_role in {"member", "admin"} else Role.MEMBER
    db.session.add(Membership(organization_id=org.id, user_id=user.id, role=role))
    db.session.flush()
    audit.record(
        "org.member_added",
        ctx,
        actor_user_id=user.id,
        organization_id=org.id,
        target_type="user",
        target_id=user.id,
        details={"role": role.value, "via": "sso_jit"},
    )


def sso_sign_in(
    org: Organization, conn: SsoConnection, profile: ExternalProfile, ctx: RequestInfo
) -> LoginResult:
    """Find, link or JIT-provision the member for an enterprise assertion and open a session."""
    if not profile.email:
        raise FederationError("email_required", "the IdP did not assert an email address")
    domain = profile.email.rsplit("@", 1)[-1].lower()
    allowed = {d.domain for d in conn.domains}
    if allowed and domain not in allowed:
        raise FederationError("domain_not_allowed", "the email is outside the connection's domains")
    identity = find_identity(profile.provider, profile.subject)
    created = False
    if identity is not None:
        user = db.session.get(User, identity.user_id)
        if user is None or not user.is_active:
            raise FederationError("account_disabled")
        identity.email = profile.email
        identity.last_login_at = utcnow()
    else:
        user = find_user_by_email(profile.email)
        if user is not None:
            member = db.session.execute(
                select(func.count())
                .select_from(Membership)
                .where(Membership.organization_id == org.id, Membership.user_id == user.id)
            ).scalar_one()
            if not member:
                raise FederationError(
                    "account_exists", "an account with this email exists outside the organization"
                )
            if not user.is_active:
                raise FederationError("account_disabled")
        else:
            user = User(email=profile.email, name=profile.name, password_hash=None, email_verified=False)
            db.session.add(user)
            try:
                db.session.flush()
            except IntegrityError as exc:
                db.session.rollback()
                raise FederationError("account_conflict") from exc
            created = True
            audit.record(
                "user.registered",
                ctx,
                actor_user_id=user.id,
                organization_id=org.id,
                target_type="user",
                target_id=user.id,
                details={"method": conn.type, "jit": True},
            )
        identity = add_identity(user, profile, ctx, "sso_jit" if created else "org_member")
    _ensure_membership(org, user, conn, ctx)
    audit.record(
        "auth.sso.login",
        ctx,
        actor_user_id=user.id,
        organization_id=org.id,
        target_type="identity",
        target_id=identity.id,
        details={"type": conn.type, "new_account": created},
    )
    return start_session(user, conn.type, ctx)

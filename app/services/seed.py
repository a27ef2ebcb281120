"""Idempotent demo data: the seed README's test users (and what later issues add)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.models.oauth import OAuthClient
from app.models.organization import Membership, Organization, Role
from app.models.user import User
from app.security import passwords
from app.services import audit
from app.services.context import SYSTEM
from app.services.users import find_user_by_email

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedUser:
    """A demo account."""

    email: str
    password: str
    name: str


SEED_USERS = (
    SeedUser("bob@acme-corp.com", "UserPass123!", "Bob Example"),
    SeedUser("alice@acme-corp.com", "OwnerPass123!", "Alice Owner"),
)


def ensure_user(seed: SeedUser) -> tuple[User, bool]:
    """Create the user if missing (password and flags reset to the documented values)."""
    user = find_user_by_email(seed.email)
    if user is not None:
        if not user.password_hash or not passwords.verify_password(user.password_hash, seed.password):
            user.password_hash = passwords.hash_password(seed.password)
        user.is_active = True
        return user, False
    user = User(
        email=seed.email,
        name=seed.name,
        password_hash=passwords.hash_password(seed.password),
        email_verified=True,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.registered",
        SYSTEM,
        actor_user_id=None,
        target_type="user",
        target_id=user.id,
        details={"source": "seed"},
    )
    return user, True


@dataclass(frozen=True)
class SeedOrganization:
    """A demo organization and the roles of its seeded members (by email)."""

    name: str
    slug: str
    members: tuple[tuple[str, Role], ...]


SEED_ORGANIZATIONS = (
    SeedOrganization(
        "Acme Corp",
        "acme-corp",
        (("alice@acme-corp.com", Role.OWNER), ("bob@acme-corp.com", Role.MEMBER)),
    ),
)


def ensure_organization(seed: SeedOrganization) -> tuple[Organization, bool]:
    """Create the org if missing and give each seeded member the documented role."""
    org = db.session.execute(select(Organization).where(Organization.slug == seed.slug)).scalar_one_or_none()
    created = org is None
    if org is None:
        org = Organization(name=seed.name, slug=seed.slug)
        db.session.add(org)
        db.session.flush()
        audit.record(
            "org.created",
            SYSTEM,
            organization_id=org.id,
            target_type="organization",
            target_id=org.id,
            details={"name": org.name, "slug": org.slug, "source": "seed"},
        )
    for email, role in seed.members:
        user = find_user_by_email(email)
        if user is None:
            continue
        membership = db.session.execute(
            select(Membership).where(Membership.organization_id == org.id, Membership.user_id == user.id)
        ).scalar_one_or_none()
        if membership is None:
            db.session.add(Membership(organization_id=org.id, user_id=user.id, role=role))
            db.session.flush()
            audit.record(
                "org.member_added",
                SYSTEM,
                organization_id=org.id,
                target_type="user",
                target_id=user.id,
                details={"role": role.value, "source": "seed"},
            )
        elif membership.role != role:
            previous = membership.role
            membership.role = role
            db.session.flush()
            audit.record(
                "org.member_role_changed",
                SYSTEM,
                organization_id=org.id,
                target_type="user",
                target_id=user.id,
                details={"from": previous.value, "to": role.value, "source": "seed"},
            )
    return org, created


SEED_OIDC_CLIENT_ID = "acme-portal-001"
SEED_OIDC_CLIENT_SECRET = "acme_secret_portal_2024"  # noqa: S105 - the seed README's documented test credential
SEED_OIDC_REDIRECT_URIS = ["http://localhost:8080/callback", "http://127.0.0.1:8080/callback"]
SEED_OIDC_POST_LOGOUT_URIS = ["http://localhost:8080/", "http://127.0.0.1:8080/"]


def ensure_oidc_client(org: Organization) -> bool:
    """Register the seed README's OIDC client under Acme Corp (secret reset to the documented one)."""
    from app.services.oauth_clients import create_client, hash_client_secret

    client = db.session.execute(
        select(OAuthClient).where(OAuthClient.client_id == SEED_OIDC_CLIENT_ID)
    ).scalar_one_or_none()
    if client is not None:
        client.secret_hash = hash_client_secret(SEED_OIDC_CLIENT_SECRET)
        client.is_active = True
        for uri in SEED_OIDC_REDIRECT_URIS:
            if uri not in client.redirect_uris:
                client.redirect_uris = [*client.redirect_uris, uri]
        return False
    create_client(
        org,
        {
            "name": "Acme Portal",
            "redirect_uris": SEED_OIDC_REDIRECT_URIS,
            "post_logout_redirect_uris": SEED_OIDC_POST_LOGOUT_URIS,
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
            "require_pkce": True,
        },
        SYSTEM,
        client_id=SEED_OIDC_CLIENT_ID,
        client_secret=SEED_OIDC_CLIENT_SECRET,
    )
    return True


def seed_all() -> list[str]:
    """Create every piece of demo data that is missing; returns a line per item for the console."""
    lines: list[str] = []
    for seed in SEED_USERS:
        user, created = ensure_user(seed)
        lines.append(f"user {seed.email}: {'created' if created else 'exists'}")
    orgs = {}
    for org_seed in SEED_ORGANIZATIONS:
        orgs[org_seed.slug], created = ensure_organization(org_seed)
        lines.append(f"organization {org_seed.slug}: {'created' if created else 'exists'}")
    created = ensure_oidc_client(orgs["acme-corp"])
    lines.append(f"oidc client {SEED_OIDC_CLIENT_ID}: {'created' if created else 'exists'}")
    db.session.commit()
    return lines

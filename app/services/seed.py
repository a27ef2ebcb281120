"""Idempotent demo data: the seed README's test users (and what later issues add)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
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


def seed_all() -> list[str]:
    """Create every piece of demo data that is missing; returns a line per item for the console."""
    lines: list[str] = []
    for seed in SEED_USERS:
        user, created = ensure_user(seed)
        lines.append(f"user {seed.email}: {'created' if created else 'exists'}")
    for org_seed in SEED_ORGANIZATIONS:
        _, created = ensure_organization(org_seed)
        lines.append(f"organization {org_seed.slug}: {'created' if created else 'exists'}")
    db.session.commit()
    return lines

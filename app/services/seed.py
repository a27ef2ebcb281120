"""Idempotent demo data: the seed README's test users (and what later issues add)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.extensions import db
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


def seed_all() -> list[str]:
    """Create every piece of demo data that is missing; returns a line per item for the console."""
    lines: list[str] = []
    for seed in SEED_USERS:
        user, created = ensure_user(seed)
        lines.append(f"user {seed.email}: {'created' if created else 'exists'}")
    db.session.commit()
    return lines

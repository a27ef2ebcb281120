"""Password login, logout and session management on top of the session store."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from flask import current_app

from app import errors, metrics
from app.extensions import db
from app.models.base import utcnow
from app.models.user import User
from app.security import passwords
from app.security.lockout import get_gate
from app.security.ratelimit import account_key
from app.services import audit
from app.services.context import RequestInfo
from app.services.users import find_user_by_email
from app.sessions import SessionRecord, get_store

logger = logging.getLogger(__name__)


@dataclass
class LoginResult:
    """A fresh session: the token is returned to the client once and never stored."""

    user: User
    token: str
    session: SessionRecord


def _needs_rehash(password_hash: str, rounds: int) -> bool:
    """True when the stored bcrypt cost differs from the configured one."""
    try:
        return int(password_hash.split("$")[2]) != rounds
    except (IndexError, ValueError):
        return False


def start_session(user: User, auth_method: str, ctx: RequestInfo) -> LoginResult:
    """Open a new session for an authenticated user (any method) and audit it."""
    token, record = get_store().create(str(user.id), auth_method, ctx.ip, ctx.user_agent)
    user.last_login_at = utcnow()
    audit.record(
        "auth.login.succeeded",
        ctx,
        actor_user_id=user.id,
        target_type="session",
        target_id=record.id,
        details={"method": auth_method},
    )
    metrics.record_login(auth_method, succeeded=True)
    return LoginResult(user=user, token=token, session=record)


def login_with_password(email: str, password: str, ctx: RequestInfo) -> LoginResult:
    """Check credentials; unknown email, wrong password, SSO-only and inactive accounts fail alike.

    Before the password is checked, the address reserves an attempt with the lockout gate; once
    LOCKOUT_THRESHOLD attempts have failed the address is locked for LOCKOUT_DURATION seconds
    (429 with Retry-After). Unknown addresses are counted and locked the same way, so neither the
    answers nor the lock reveal whether an account exists.
    """
    gate = get_gate()
    key = account_key(email, current_app.config["SECRET_KEY"])
    reservation = gate.reserve(key)
    if not reservation.allowed:
        logger.info("login refused: account key locked (retry in %ss)", reservation.retry_after)
        raise errors.RateLimited(
            reservation.retry_after,
            "Too many failed sign-in attempts for this account; try again later",
        )
    user = find_user_by_email(email)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        locked = gate.fail(key, reservation.attempt)
        audit.record(
            "auth.login.failed",
            ctx,
            actor_user_id=None,
            target_type="user" if user else None,
            target_id=user.id if user else None,
            details={"reason": "invalid_credentials" if not ok or user is None else "inactive"},
        )
        if locked:
            policy = gate.policy
            audit.record(
                "auth.account_locked",
                ctx,
                actor_user_id=None,
                target_type="user" if user else None,
                target_id=user.id if user else None,
                details={
                    "failures": policy.threshold,
                    "window_seconds": policy.window,
                    "locked_seconds": policy.duration,
                    "known_account": user is not None,
                },
            )
        metrics.record_login("password", succeeded=False)
        raise errors.InvalidCredentials(commit=True)
    gate.succeed(key)
    rounds = current_app.config["BCRYPT_LOG_ROUNDS"]
    if user.password_hash and _needs_rehash(user.password_hash, rounds):
        user.password_hash = passwords.hash_password(password)
    return start_session(user, "password", ctx)


def resolve_session(token: str) -> tuple[User, SessionRecord] | None:
    """The live session and active user behind a token, or None."""
    if not token or len(token) > 256:
        return None
    record = get_store().get(token)
    if record is None:
        return None
    user = db.session.get(User, uuid.UUID(record.user_id))
    if user is None or not user.is_active:
        get_store().revoke(record.user_id, record.id)
        return None
    return user, record


def logout(user: User, record: SessionRecord, ctx: RequestInfo) -> None:
    """Revoke the current session."""
    get_store().revoke(str(user.id), record.id)
    audit.record("auth.logout", ctx, actor_user_id=user.id, target_type="session", target_id=record.id)


def list_sessions(user: User) -> list[SessionRecord]:
    """The user's live sessions, newest first."""
    return get_store().list_for_user(str(user.id))


def revoke_session(user: User, session_id: str, ctx: RequestInfo) -> None:
    """Revoke one of the user's own sessions; another user's id is simply not found."""
    if not session_id or len(session_id) > 64 or not get_store().revoke(str(user.id), session_id):
        raise errors.NotFound("Session not found")
    audit.record("session.revoked", ctx, actor_user_id=user.id, target_type="session", target_id=session_id)

"""Email verification and password reset: single-use, expiring, hashed tokens sent by mail.

A token is 256 random bits; only its SHA-256 is stored, with the address it was mailed to. It is
accepted once, before it expires, for its own purpose, and only while the account still has that
address. Issuing a new token of a purpose invalidates the user's older unused ones.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import delete, select, update

from app import errors
from app.extensions import db
from app.models.base import utcnow
from app.models.token import OneTimeToken, TokenPurpose
from app.models.user import User
from app.security import passwords
from app.security.tokens import new_token, sha256_hex
from app.services import audit, mail
from app.services.context import RequestInfo
from app.sessions import get_store

VERIFY_EMAIL_PATH = "/verify-email"
RESET_PASSWORD_PATH = "/reset-password"  # noqa: S105 - a URL path, not a password

INVALID_LINK = "This link is invalid. Request a new one."
USED_LINK = "This link has already been used. Request a new one if you still need it."
EXPIRED_LINK = "This link has expired. Request a new one."


def frontend_link(path: str, token: str) -> str:
    """The SPA page (under FRONTEND_URL) that receives the token."""
    base = current_app.config["FRONTEND_URL"].rstrip("/")
    return f"{base}{path}?{urlencode({'token': token})}"


def ttl_text(seconds: int) -> str:
    """'30 minutes', '48 hours', '1 hour' — for the mail body."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def issue_token(user: User, purpose: TokenPurpose, ttl_seconds: int) -> str:
    """A fresh token for `user` (older unused ones of this purpose stop working); returns it once."""
    db.session.execute(
        delete(OneTimeToken).where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
        )
    )
    token = new_token()
    now = utcnow()
    db.session.add(
        OneTimeToken(
            token_hash=sha256_hex(token),
            purpose=purpose,
            user_id=user.id,
            email=user.email,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    db.session.flush()
    return token


def _check_token(token: str, purpose: TokenPurpose) -> tuple[OneTimeToken, User]:
    """The live token row and its user, or a VALIDATION_ERROR saying clearly what is wrong."""
    row = db.session.execute(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == sha256_hex(token), OneTimeToken.purpose == purpose
        )
    ).scalar_one_or_none()
    if row is None:
        raise errors.ValidationFailed(INVALID_LINK, {"token": [INVALID_LINK]})
    if row.used_at is not None:
        raise errors.ValidationFailed(USED_LINK, {"token": [USED_LINK]})
    if row.expires_at <= utcnow():
        raise errors.ValidationFailed(EXPIRED_LINK, {"token": [EXPIRED_LINK]})
    user = db.session.get(User, row.user_id)
    # The link proves control of the address it was sent to, so it dies when the address changes.
    if user is None or not user.is_active or user.email.lower() != row.email.lower():
        raise errors.ValidationFailed(INVALID_LINK, {"token": [INVALID_LINK]})
    return row, user


def _consume(row: OneTimeToken) -> None:
    """Mark the token used; a concurrent use of the same token loses here (one UPDATE wins)."""
    result = db.session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise errors.ValidationFailed(USED_LINK, {"token": [USED_LINK]})


# --- email verification ----------------------------------------------------------------------


def _mail_token_link(
    user: User, purpose: TokenPurpose, ttl: int, template: str, path: str, subject: str
) -> None:
    """Issue a single-use token and queue its link to the address stored on the account."""
    token = issue_token(user, purpose, ttl)
    text, html = mail.render(
        template, name=user.name, email=user.email, link=frontend_link(path, token), ttl_text=ttl_text(ttl)
    )
    mail.enqueue(kind=template, recipient=user.email, subject=subject, text=text, html=html, sensitive=True)


def send_verification_email(user: User, ctx: RequestInfo) -> None:
    """Mail a verification link to the user's current address (flushed; sent after commit).

    Not audited by itself: registration and email changes are, and the resend endpoint is.
    """
    ttl = current_app.config["EMAIL_VERIFICATION_TTL"]
    _mail_token_link(
        user, TokenPurpose.VERIFY_EMAIL, ttl, "verify_email", VERIFY_EMAIL_PATH, "Confirm your email address"
    )


def resend_verification(user: User, ctx: RequestInfo) -> None:
    """Send a new verification link; 409 if the address is already verified."""
    if user.email_verified:
        raise errors.Conflict("Your email address is already verified")
    send_verification_email(user, ctx)
    audit.record(
        "user.email_verification_resent", ctx, actor_user_id=user.id, target_type="user", target_id=user.id
    )


def verify_email(token: str, ctx: RequestInfo) -> User:
    """Mark the address the token was mailed to as verified (single use)."""
    row, user = _check_token(token, TokenPurpose.VERIFY_EMAIL)
    _consume(row)
    user.email_verified = True
    db.session.flush()
    audit.record("user.email_verified", ctx, actor_user_id=user.id, target_type="user", target_id=user.id)
    return user


def notify_email_changed(user: User, old_email: str) -> None:
    """Tell the previous address that the account's address changed (it cannot be undone by mail)."""
    text, html = mail.render("email_changed", name=user.name, new_email_masked=mail.mask_email(user.email))
    mail.enqueue(
        kind="email_changed",
        recipient=old_email,
        subject="Your email address was changed",
        text=text,
        html=html,
    )


# --- password reset --------------------------------------------------------------------------


def request_password_reset(email: str, ctx: RequestInfo) -> None:
    """Mail a reset link to the account's STORED address, if an active account matches `email`.

    The caller answers the same either way. Unknown addresses do comparable work (a token and
    the rendered mail, then discarded) so the response time does not tell them apart.
    """
    from app.services.users import find_user_by_email  # users imports this module

    user = find_user_by_email(email)
    ttl = current_app.config["PASSWORD_RESET_TTL"]
    if user is None or not user.is_active:
        mail.render(
            "password_reset",
            name=None,
            email=email,
            link=frontend_link(RESET_PASSWORD_PATH, new_token()),
            ttl_text=ttl_text(ttl),
        )
        audit.record("auth.password_reset.requested", ctx, details={"account_found": False})
        return
    # Never the address as typed: a look-alike that matched case-insensitively must not get the link.
    _mail_token_link(
        user, TokenPurpose.PASSWORD_RESET, ttl, "password_reset", RESET_PASSWORD_PATH, "Reset your password"
    )
    audit.record(
        "auth.password_reset.requested",
        ctx,
        target_type="user",
        target_id=user.id,
        details={"account_found": True},
    )


def reset_password(token: str, new_password: str, ctx: RequestInfo) -> int:
    """Set a new password with a reset token; every session ends. Returns how many were revoked."""
    from app.services.users import check_new_password  # users imports this module

    row, user = _check_token(token, TokenPurpose.PASSWORD_RESET)
    # Check the policy before spending the token, so a weak password does not burn the link.
    check_new_password(new_password, "new_password")
    _consume(row)
    db.session.execute(
        delete(OneTimeToken).where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == TokenPurpose.PASSWORD_RESET,
            OneTimeToken.used_at.is_(None),
        )
    )
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = utcnow()
    # The link reached the account's address, which proves the user controls it.
    user.email_verified = True
    db.session.flush()
    revoked = get_store().revoke_all_for_user(str(user.id))
    audit.record(
        "user.password_reset",
        ctx,
        actor_user_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"sessions_revoked": revoked},
    )
    return revoked

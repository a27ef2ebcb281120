"""Accounts: registration, lookup, profile, password and deletion."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from app import errors
from app.extensions import db
from app.models.audit import AuditLog
from app.models.base import utcnow
from app.models.organization import Membership, Organization
from app.models.user import User
from app.security import passwords
from app.services import account, audit
from app.services.context import RequestInfo
from app.sessions import get_store


def find_user_by_email(email: str) -> User | None:
    """The user whose address matches case-insensitively (the same rule as the unique index)."""
    return db.session.execute(
        select(User).where(func.lower(User.email) == func.lower(email))
    ).scalar_one_or_none()


def get_user(user_id: uuid.UUID | str) -> User | None:
    """The user with this id, or None (malformed ids are simply not found)."""
    try:
        uid = uuid.UUID(str(user_id))
    except ValueError:
        return None
    return db.session.get(User, uid)


def check_new_password(password: str, field: str = "password") -> None:
    """Raise VALIDATION_ERROR listing every policy problem of a new password."""
    problems = passwords.policy_problems(password)
    if problems:
        raise ValidationError({field: problems})


def _email_taken() -> errors.Conflict:
    return errors.Conflict(
        "An account with this email address already exists",
        {"email": ["An account with this email address already exists."]},
    )


def register_user(email: str, password: str, name: str | None, ctx: RequestInfo) -> User:
    """Create a password account; 409 when the address is taken (the unique index decides races)."""
    check_new_password(password)
    if find_user_by_email(email) is not None:
        raise _email_taken()
    user = User(email=email, name=name, password_hash=passwords.hash_password(password))
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise _email_taken() from exc
    audit.record("user.registered", ctx, actor_user_id=user.id, target_type="user", target_id=user.id)
    account.send_verification_email(user, ctx)
    return user


def update_profile(
    user: User,
    ctx: RequestInfo,
    *,
    name: str | None = None,
    email: str | None = None,
    current_password: str | None = None,
    fields_given: frozenset[str] = frozenset(),
) -> User:
    """Change name and/or email. An email change needs the current password and resets verification."""
    changed: list[str] = []
    if "name" in fields_given and name != user.name:
        user.name = name
        changed.append("name")
    if "email" in fields_given and email is not None and email != user.email:
        if user.password_hash and (
            current_password is None or not passwords.verify_password(user.password_hash, current_password)
        ):
            raise ValidationError(
                {"current_password": ["Your current password is required to change your email."]}
            )
        other = find_user_by_email(email)
        if other is not None and other.id != user.id:
            raise _email_taken()
        old_email = user.email
        user.email = email
        user.email_verified = False
        changed.append("email")
    if changed:
        try:
            db.session.flush()
        except IntegrityError as exc:
            db.session.rollback()
            raise _email_taken() from exc
        audit.record(
            "user.profile_updated",
            ctx,
            actor_user_id=user.id,
            target_type="user",
            target_id=user.id,
            details={"fields": changed},
        )
    if "email" in changed:
        # The new address must be proven; the old one hears about the change.
        account.send_verification_email(user, ctx)
        account.notify_email_changed(user, old_email)
    return user


def change_password(
    user: User, current_password: str, new_password: str, current_session_id: str | None, ctx: RequestInfo
) -> int:
    """Set a new password and revoke every other session; returns how many were revoked."""
    if not passwords.verify_password(user.password_hash, current_password):
        audit.record(
            "user.password_change_failed", ctx, actor_user_id=user.id, target_type="user", target_id=user.id
        )
        raise errors.ValidationFailed(
            "Current password is incorrect",
            {"current_password": ["Current password is incorrect."]},
            commit=True,
        )
    check_new_password(new_password, "new_password")
    if passwords.verify_password(user.password_hash, new_password):
        raise ValidationError({"new_password": ["New password must differ from the current one."]})
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = utcnow()
    db.session.flush()
    revoked = get_store().revoke_all_for_user(str(user.id), except_session_id=current_session_id)
    audit.record(
        "user.password_changed",
        ctx,
        actor_user_id=user.id,
        target_type="user",
        target_id=user.id,
        details={"sessions_revoked": revoked},
    )
    return revoked


def list_user_organizations(user: User) -> list[tuple[Organization, Membership]]:
    """The user's organizations with their membership, by name."""
    rows = db.session.execute(
        select(Organization, Membership)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user.id)
        .order_by(Organization.name, Organization.id)
    ).all()
    return [(org, membership) for org, membership in rows]


def delete_account(user: User, password: str | None, ctx: RequestInfo) -> None:
    """Delete the account after confirming the password; all its sessions are revoked.

    409 (naming the org) when the user is the last owner of an org that has other members;
    orgs where the user is the only member are deleted with the account.
    """
    if user.password_hash and (
        password is None or not passwords.verify_password(user.password_hash, password)
    ):
        raise ValidationError({"password": ["Your password is required to delete your account."]})
    # Imported here: the organizations service imports this module.
    from app.services.organizations import record_departures, release_user_organizations

    # Row changes first, audit rows last: the audit append lock is held until commit.
    departures = release_user_organizations(user)
    user_id = user.id
    get_store().revoke_all_for_user(str(user_id))
    db.session.delete(user)
    db.session.flush()
    record_departures(departures, user_id, ctx)
    audit.record("user.deleted", ctx, actor_user_id=user_id, target_type="user", target_id=user_id)


def list_my_audit_logs(
    user: User, filters: dict[str, Any], *, page: int, per_page: int
) -> tuple[int, list[dict[str, Any]]]:
    """Audit rows the user performed or that targeted their account, newest first.

    The ip and user agent of rows another person performed (e.g. an admin removing the user from
    an org) are withheld; anonymous rows (failed logins against the account) keep them.
    """
    scope = [
        or_(
            AuditLog.actor_user_id == user.id,
            and_(AuditLog.target_type == "user", AuditLog.target_id == str(user.id)),
        )
    ]
    total, rows = audit.search(scope, filters, page=page, per_page=per_page)
    items = [
        audit.as_dict(row, redact_client=row.actor_user_id is not None and row.actor_user_id != user.id)
        for row in rows
    ]
    return total, items

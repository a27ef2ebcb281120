"""The caller's own account: profile, password, deletion, organizations."""

from __future__ import annotations

from flask import Blueprint, Response

from app.api.common import (
    clear_session_cookies,
    current_session,
    current_user,
    load,
    login_required,
    pagination_args,
    query_args,
    request_info,
)
from app.envelope import pagination_meta, success
from app.extensions import db
from app.schemas.auth import UserSchema
from app.schemas.organizations import AuditLogQuerySchema, AuditLogSchema
from app.schemas.users import AccountDeleteSchema, PasswordChangeSchema, UserUpdateSchema
from app.security.ratelimit import password_change_limit
from app.services import users as user_service

bp = Blueprint("users", __name__, url_prefix="/api/v1/users")


@bp.get("/me")
@login_required
def get_me() -> Response:
    """The caller's profile."""
    return success({"user": UserSchema().dump(current_user())}, "Profile")


@bp.patch("/me")
@password_change_limit
@login_required
def update_me() -> Response:
    """Update name and/or email (email needs current_password); other fields are refused."""
    data = load(UserUpdateSchema())
    user = user_service.update_profile(
        current_user(),
        request_info(),
        name=data.get("name"),
        email=data.get("email"),
        current_password=data.get("current_password"),
        fields_given=frozenset(data),
    )
    db.session.commit()
    return success({"user": UserSchema().dump(user)}, "Profile updated")


@bp.delete("/me")
@password_change_limit
@login_required
def delete_me() -> Response:
    """Delete the account (confirm with `password`); every session ends."""
    data = load(AccountDeleteSchema(), optional=True)
    user_service.delete_account(current_user(), data.get("password"), request_info())
    db.session.commit()
    response = success(None, "Account deleted")
    clear_session_cookies(response)
    return response


@bp.post("/me/password")
@password_change_limit
@login_required
def change_password() -> Response:
    """Change the password; every other session is revoked, this one stays."""
    data = load(PasswordChangeSchema())
    revoked = user_service.change_password(
        current_user(), data["current_password"], data["new_password"], current_session().id, request_info()
    )
    db.session.commit()
    return success({"sessions_revoked": revoked}, "Password changed")


@bp.get("/me/organizations")
@login_required
def list_my_organizations() -> Response:
    """Organizations the caller belongs to, with the caller's role in each."""
    items = [
        {
            "id": str(org.id),
            "name": org.name,
            "slug": org.slug,
            "role": membership.role.value,
            "joined_at": membership.created_at.isoformat(),
        }
        for org, membership in user_service.list_user_organizations(current_user())
    ]
    return success({"organizations": items}, "Organizations", meta={"total": len(items)})


@bp.get("/me/audit-logs")
@login_required
def list_my_audit_logs() -> Response:
    """Audit rows the caller performed or that targeted their account, newest first (paginated)."""
    page, per_page = pagination_args()
    filters = query_args(AuditLogQuerySchema())
    total, items = user_service.list_my_audit_logs(current_user(), filters, page=page, per_page=per_page)
    return success(
        {"audit_logs": AuditLogSchema(many=True).dump(items)},
        "Audit log",
        meta=pagination_meta(page, per_page, total),
    )

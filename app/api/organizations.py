"""Organizations, their members and their audit log (DESIGN §4).

Views only parse, call one service and answer: every authorization decision is made by
`app.services.organizations.require_membership`, which each service function calls first.
Path ids use the `uuid` converter, so a malformed id is a 404 envelope, never a 500.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response

from app.api.common import current_user, load, login_required, pagination_args, query_args, request_info
from app.envelope import pagination_meta, success
from app.extensions import db
from app.schemas.organizations import (
    AuditLogQuerySchema,
    AuditLogSchema,
    MemberAddSchema,
    MemberListQuerySchema,
    MemberRoleSchema,
    MemberSchema,
    OrganizationCreateSchema,
    OrganizationSchema,
    OrganizationUpdateSchema,
)
from app.services import organizations as org_service

bp = Blueprint("organizations", __name__, url_prefix="/api/v1/organizations")


@bp.post("")
@login_required
def create_organization() -> Response:
    """Create an organization; the caller becomes its owner. 409 if the given slug is taken."""
    data = load(OrganizationCreateSchema())
    org = org_service.create_organization(
        current_user(),
        data["name"],
        request_info(),
        slug=data.get("slug"),
        description=data.get("description"),
    )
    db.session.commit()
    body = {**OrganizationSchema().dump(org), "role": "owner", "member_count": 1}
    return success({"organization": body}, "Organization created", 201)


@bp.get("/<uuid:org_id>")
@login_required
def get_organization(org_id: uuid.UUID) -> Response:
    """An organization the caller belongs to, with the caller's role and the member count."""
    org, membership, count = org_service.get_organization(org_id, current_user())
    body = {**OrganizationSchema().dump(org), "role": membership.role.value, "member_count": count}
    return success({"organization": body}, "Organization")


@bp.patch("/<uuid:org_id>")
@login_required
def update_organization(org_id: uuid.UUID) -> Response:
    """Change name, slug or description (admin or owner)."""
    data = load(OrganizationUpdateSchema())
    org, membership = org_service.update_organization(org_id, current_user(), data, request_info())
    db.session.commit()
    body = {**OrganizationSchema().dump(org), "role": membership.role.value}
    return success({"organization": body}, "Organization updated")


@bp.delete("/<uuid:org_id>")
@login_required
def delete_organization(org_id: uuid.UUID) -> Response:
    """Delete the organization and all its memberships (owner only)."""
    org_service.delete_organization(org_id, current_user(), request_info())
    db.session.commit()
    return success(None, "Organization deleted")


@bp.get("/<uuid:org_id>/members")
@login_required
def list_members(org_id: uuid.UUID) -> Response:
    """Members with their roles, oldest first; `?role=` filters, `page`/`per_page` paginate."""
    page, per_page = pagination_args()
    args = query_args(MemberListQuerySchema())
    result = org_service.list_members(
        org_id, current_user(), role=args.get("role"), page=page, per_page=per_page
    )
    return success(
        {"members": MemberSchema(many=True).dump(result.items)},
        "Members",
        meta=pagination_meta(page, per_page, result.total),
    )


@bp.post("/<uuid:org_id>/members")
@login_required
def add_member(org_id: uuid.UUID) -> Response:
    """Add an existing user by email with a role (admin or owner; only owners grant owner)."""
    data = load(MemberAddSchema())
    member = org_service.add_member(org_id, current_user(), data["email"], data["role"], request_info())
    db.session.commit()
    return success({"member": MemberSchema().dump(member)}, "Member added", 201)


@bp.delete("/<uuid:org_id>/members/<uuid:user_id>")
@login_required
def remove_member(org_id: uuid.UUID, user_id: uuid.UUID) -> Response:
    """Remove a member (admins: non-owners; owners: anyone but the last owner); anyone may leave."""
    org_service.remove_member(org_id, current_user(), user_id, request_info())
    db.session.commit()
    return success(None, "Member removed")


@bp.patch("/<uuid:org_id>/members/<uuid:user_id>/role")
@login_required
def change_member_role(org_id: uuid.UUID, user_id: uuid.UUID) -> Response:
    """Change a member's role (admins: member<->admin on non-owners; owners: anything)."""
    data = load(MemberRoleSchema())
    member = org_service.change_member_role(org_id, current_user(), user_id, data["role"], request_info())
    db.session.commit()
    return success({"member": MemberSchema().dump(member)}, "Role updated")


@bp.get("/<uuid:org_id>/audit-logs")
@login_required
def list_audit_logs(org_id: uuid.UUID) -> Response:
    """The organization's audit log, newest first (admin or owner); filters action, actor, since, until."""
    page, per_page = pagination_args()
    filters = query_args(AuditLogQuerySchema())
    result = org_service.list_audit_logs(
        org_id, current_user(), filters, page=page, per_page=per_page, ctx=request_info()
    )
    return success(
        {"audit_logs": AuditLogSchema(many=True).dump(result.items)},
        "Audit log",
        meta=pagination_meta(page, per_page, result.total),
    )

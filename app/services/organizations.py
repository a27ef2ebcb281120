"""Organizations (tenants), memberships and the role matrix of DESIGN §4.

Every function that touches one organization starts with `require_membership`, the single place
where "may this user do this here?" is decided: a non-member gets 404 (the org's existence is not
leaked), a member lacking the role gets 403 and an `org.access_denied` audit row.

Membership changes lock the organization row (SELECT ... FOR UPDATE on PostgreSQL) before reading
roles, so two concurrent requests cannot both pass the "last owner" check and leave an org ownerless.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from app import errors
from app.extensions import db
from app.models.audit import AuditLog
from app.models.organization import Membership, Organization, Role
from app.models.user import User
from app.services import audit
from app.services.context import RequestInfo
from app.services.users import find_user_by_email

logger = logging.getLogger(__name__)

SLUG_MAX = 63
# Leaves room for a "-NNNN" suffix when the derived slug is taken.
SLUG_BASE_MAX = 50


@dataclass(frozen=True)
class Page:
    """One page of a list plus the total number of matching rows."""

    items: list[Any]
    total: int


def parse_uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
    """`value` as a UUID, or None when it is not one (malformed ids are simply not found)."""
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _deny(
    membership: Membership, min_role: Role, ctx: RequestInfo | None, attempted: str | None, message: str
) -> errors.PermissionDenied:
    """Audit a refused attempt and build the 403 (committed so the audit row survives the error)."""
    audit.record(
        "org.access_denied",
        ctx,
        actor_user_id=membership.user_id,
        organization_id=membership.organization_id,
        target_type="organization",
        target_id=membership.organization_id,
        details={"attempted": attempted, "role": membership.role.value, "required_role": min_role.value},
    )
    return errors.PermissionDenied(message, {"required_role": min_role.value}, commit=True)


def check_role(
    membership: Membership,
    min_role: Role,
    *,
    ctx: RequestInfo | None = None,
    action: str | None = None,
    message: str | None = None,
) -> None:
    """Raise an audited 403 unless `membership` holds at least `min_role`."""
    if membership.role.rank < min_role.rank:
        raise _deny(
            membership,
            min_role,
            ctx,
            action,
            message or f"This action requires the {min_role.value} role in this organization",
        )


def require_membership(
    org_id: uuid.UUID | str,
    user: User,
    min_role: Role = Role.MEMBER,
    *,
    ctx: RequestInfo | None = None,
    action: str | None = None,
    lock: bool = False,
) -> Membership:
    """The caller's membership in the org (with `.organization` loaded), enforcing `min_role`.

    404 NOT_FOUND when the org does not exist, the id is malformed, or `user` is not a member;
    403 AUTHORIZATION_ERROR (audited as `org.access_denied`, naming `action`) when the role is too
    weak. `lock=True` locks the organization row first (use it before changing memberships).
    Call it before writing anything: the 403 commits the request's transaction to keep its audit row.
    """
    oid = parse_uuid(org_id)
    if oid is None:
        raise errors.NotFound("Organization not found")
    if lock:
        locked = db.session.execute(
            select(Organization.id).where(Organization.id == oid).with_for_update()
        ).scalar_one_or_none()
        if locked is None:
            raise errors.NotFound("Organization not found")
    membership = db.session.execute(
        select(Membership)
        .join(Membership.organization)
        .options(contains_eager(Membership.organization))
        .where(Membership.organization_id == oid, Membership.user_id == user.id)
    ).scalar_one_or_none()
    if membership is None:
        raise errors.NotFound("Organization not found")
    check_role(membership, min_role, ctx=ctx, action=action)
    return membership


# --- organizations ---------------------------------------------------------------------------


def slugify(name: str) -> str:
    """A URL-safe slug from a display name ("Acme Corp!" -> "acme-corp"; never empty)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    slug = slug[:SLUG_BASE_MAX].rstrip("-")
    return slug or "org"


def _slug_taken(slug: str) -> bool:
    return db.session.execute(select(Organization.id).where(Organization.slug == slug)).first() is not None


def _free_slug(base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... whichever is free first."""
    taken = set(
        db.session.execute(
            select(Organization.slug).where(
                (Organization.slug == base) | Organization.slug.startswith(f"{base}-", autoescape=True)
            )
        ).scalars()
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _slug_conflict(slug: str) -> errors.Conflict:
    return errors.Conflict(f"The slug '{slug}' is already in use", {"slug": ["This slug is already in use."]})


def create_organization(
    user: User, name: str, ctx: RequestInfo, *, slug: str | None = None, description: str | None = None
) -> Organization:
    """Create an org with `user` as its owner. A given slug that is taken is a 409; a derived one
    gets a numeric suffix. The unique index decides races (409, the client may retry)."""
    if slug is not None and _slug_taken(slug):
        raise _slug_conflict(slug)
    final_slug = slug or _free_slug(slugify(name))
    org = Organization(name=name, slug=final_slug, description=description)
    org.memberships.append(Membership(user_id=user.id, role=Role.OWNER))
    db.session.add(org)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise _slug_conflict(final_slug) from exc
    audit.record(
        "org.created",
        ctx,
        actor_user_id=user.id,
        organization_id=org.id,
        target_type="organization",
        target_id=org.id,
        details={"name": org.name, "slug": org.slug},
    )
    return org


def get_organization(org_id: uuid.UUID | str, user: User) -> tuple[Organization, Membership, int]:
    """(org, the caller's membership, member count) for any member."""
    membership = require_membership(org_id, user)
    count = db.session.execute(
        select(func.count())
        .select_from(Membership)
        .where(Membership.organization_id == membership.organization_id)
    ).scalar_one()
    return membership.organization, membership, count


def update_organization(
    org_id: uuid.UUID | str, user: User, changes: dict[str, Any], ctx: RequestInfo
) -> tuple[Organization, Membership]:
    """Change name, slug and/or description (admin or owner). A taken slug is a 409."""
    membership = require_membership(org_id, user, Role.ADMIN, ctx=ctx, action="org.update")
    org = membership.organization
    changed: dict[str, Any] = {}
    for field in ("name", "slug", "description"):
        if field in changes and changes[field] != getattr(org, field):
            changed[field] = changes[field]
    if "slug" in changed and _slug_taken(changed["slug"]):
        raise _slug_conflict(changed["slug"])
    if changed:
        previous = {field: getattr(org, field) for field in changed if field != "description"}
        for field, value in changed.items():
            setattr(org, field, value)
        try:
            db.session.flush()
        except IntegrityError as exc:
            db.session.rollback()
            raise _slug_conflict(str(changed.get("slug"))) from exc
        audit.record(
            "org.updated",
            ctx,
            actor_user_id=user.id,
            organization_id=org.id,
            target_type="organization",
            target_id=org.id,
            details={"fields": sorted(changed), "previous": previous},
        )
    return org, membership


@dataclass(frozen=True)
class Departure:
    """What account deletion did to one org, kept so it can be audited after the row changes."""

    organization_id: uuid.UUID
    name: str
    slug: str
    role: Role
    org_deleted: bool


def _delete_org_rows(org: Organization) -> None:
    """Delete an org and its memberships (no audit: callers record it after their row changes)."""
    # Explicit, so it also holds on SQLite where foreign-key cascades are off by default.
    db.session.execute(delete(Membership).where(Membership.organization_id == org.id))
    db.session.delete(org)
    db.session.flush()


def _record_org_deleted(
    org_id: uuid.UUID, name: str, slug: str, actor_user_id: uuid.UUID, ctx: RequestInfo, reason: str
) -> None:
    audit.record(
        "org.deleted",
        ctx,
        actor_user_id=actor_user_id,
        organization_id=org_id,
        target_type="organization",
        target_id=org_id,
        details={"name": name, "slug": slug, "reason": reason},
    )


def delete_organization(org_id: uuid.UUID | str, user: User, ctx: RequestInfo) -> None:
    """Delete the org and its memberships (owners only)."""
    membership = require_membership(org_id, user, Role.OWNER, ctx=ctx, action="org.delete", lock=True)
    org = membership.organization
    org_uuid, name, slug = org.id, org.name, org.slug
    _delete_org_rows(org)
    _record_org_deleted(org_uuid, name, slug, user.id, ctx, "deleted_by_owner")


# --- members ---------------------------------------------------------------------------------


def _member_dict(membership: Membership, member: User) -> dict[str, Any]:
    return {
        "user_id": member.id,
        "email": member.email,
        "name": member.name,
        "role": membership.role.value,
        "joined_at": membership.created_at,
    }


def list_members(org_id: uuid.UUID | str, user: User, *, role: Role | None, page: int, per_page: int) -> Page:
    """The org's members (any member may list), oldest first, optionally only one role."""
    membership = require_membership(org_id, user)
    where = [Membership.organization_id == membership.organization_id]
    if role is not None:
        where.append(Membership.role == role)
    total = db.session.execute(select(func.count()).select_from(Membership).where(*where)).scalar_one()
    rows = db.session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(*where)
        .order_by(Membership.created_at, Membership.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page([_member_dict(m, u) for m, u in rows], total)


def _owner_count(org_id: uuid.UUID) -> int:
    return db.session.execute(
        select(func.count())
        .select_from(Membership)
        .where(Membership.organization_id == org_id, Membership.role == Role.OWNER)
    ).scalar_one()


def _target_membership(org_id: uuid.UUID, target_user_id: uuid.UUID | str) -> Membership:
    """The target's membership in THIS org only (another org's member is simply not found)."""
    tid = parse_uuid(target_user_id)
    target = None
    if tid is not None:
        target = db.session.execute(
            select(Membership).where(Membership.organization_id == org_id, Membership.user_id == tid)
        ).scalar_one_or_none()
    if target is None:
        raise errors.NotFound("Member not found in this organization")
    return target


def _last_owner_conflict() -> errors.Conflict:
    return errors.Conflict(
        "The last owner of an organization can be neither removed nor demoted; "
        "make another member an owner first (or delete the organization)",
        {"role": ["The organization must keep at least one owner."]},
    )


def add_member(
    org_id: uuid.UUID | str, user: User, email: str, role: Role, ctx: RequestInfo
) -> dict[str, Any]:
    """Add an existing user by email (admin or owner; only owners grant owner).

    Unknown email -> 404 (there are no invitations yet); already a member -> 409.
    """
    membership = require_membership(org_id, user, Role.ADMIN, ctx=ctx, action="org.member_add", lock=True)
    if role == Role.OWNER:
        check_role(
            membership,
            Role.OWNER,
            ctx=ctx,
            action="org.member_add",
            message="Only owners can grant the owner role",
        )
    org_uuid = membership.organization_id
    new_user = find_user_by_email(email)
    if new_user is None:
        raise errors.NotFound(
            "No account uses this email address; the person must register first "
            "(invitations are not supported yet)",
            {"email": ["No account uses this email address."]},
        )
    exists = db.session.execute(
        select(Membership.id).where(Membership.organization_id == org_uuid, Membership.user_id == new_user.id)
    ).first()
    if exists is not None:
        raise errors.Conflict(
            "This user is already a member of the organization",
            {"email": ["This user is already a member."]},
        )
    added = Membership(organization_id=org_uuid, user_id=new_user.id, role=role)
    db.session.add(added)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise errors.Conflict("This user is already a member of the organization") from exc
    audit.record(
        "org.member_added",
        ctx,
        actor_user_id=user.id,
        organization_id=org_uuid,
        target_type="user",
        target_id=new_user.id,
        details={"role": role.value},
    )
    return _member_dict(added, new_user)


def remove_member(
    org_id: uuid.UUID | str, user: User, target_user_id: uuid.UUID | str, ctx: RequestInfo
) -> None:
    """Remove a member: anyone may leave; admins remove non-owners; owners remove anyone but the
    last owner (409)."""
    membership = require_membership(org_id, user, ctx=ctx, action="org.member_remove", lock=True)
    org_uuid = membership.organization_id
    leaving = parse_uuid(target_user_id) == user.id
    if leaving:
        target = membership
    else:
        check_role(membership, Role.ADMIN, ctx=ctx, action="org.member_remove")
        target = _target_membership(org_uuid, target_user_id)
        if target.role == Role.OWNER:
            check_role(
                membership,
                Role.OWNER,
                ctx=ctx,
                action="org.member_remove",
                message="Only owners can remove an owner",
            )
    if target.role == Role.OWNER and _owner_count(org_uuid) <= 1:
        raise _last_owner_conflict()
    removed_user_id, removed_role = target.user_id, target.role
    db.session.delete(target)
    db.session.flush()
    audit.record(
        "org.member_removed",
        ctx,
        actor_user_id=user.id,
        organization_id=org_uuid,
        target_type="user",
        target_id=removed_user_id,
        details={"role": removed_role.value, "left": leaving},
    )


def change_member_role(
    org_id: uuid.UUID | str, user: User, target_user_id: uuid.UUID | str, role: Role, ctx: RequestInfo
) -> dict[str, Any]:
    """Set a member's role: admins move non-owners between member and admin; only owners grant or
    revoke owner; the last owner cannot be demoted (409)."""
    membership = require_membership(
        org_id, user, Role.ADMIN, ctx=ctx, action="org.member_role_change", lock=True
    )
    org_uuid = membership.organization_id
    target = _target_membership(org_uuid, target_user_id)
    if target.role == Role.OWNER or role == Role.OWNER:
        check_role(
            membership,
            Role.OWNER,
            ctx=ctx,
            action="org.member_role_change",
            message="Only owners can grant or revoke the owner role",
        )
    previous = target.role
    if previous == Role.OWNER and role != Role.OWNER and _owner_count(org_uuid) <= 1:
        raise _last_owner_conflict()
    if previous != role:
        target.role = role
        db.session.flush()
        audit.record(
            "org.member_role_changed",
            ctx,
            actor_user_id=user.id,
            organization_id=org_uuid,
            target_type="user",
            target_id=target.user_id,
            details={"from": previous.value, "to": role.value},
        )
    member = db.session.get(User, target.user_id)
    assert member is not None  # the membership's foreign key guarantees it
    return _member_dict(target, member)


# --- account deletion --------------------------------------------------------------------------


def release_user_organizations(user: User) -> list[Departure]:
    """Before deleting `user`: refuse (409 naming the org) if they are the last owner of an org
    with other members; delete the orgs they are the only member of and their other memberships.

    Writes no audit row: the caller records the returned departures with `record_departures`
    after its own row changes, because the audit append lock is held until commit and row locks
    must be taken before it (else a concurrent login or member change could deadlock with us).
    """
    org_ids = (
        db.session.execute(
            select(Membership.organization_id)
            .where(Membership.user_id == user.id)
            .order_by(Membership.organization_id)
        )
        .scalars()
        .all()
    )
    if not org_ids:
        return []
    # Lock in a stable order so two deletions touching the same orgs cannot deadlock.
    orgs = {
        org.id: org
        for org in db.session.execute(
            select(Organization)
            .where(Organization.id.in_(org_ids))
            .order_by(Organization.id)
            .with_for_update()
        ).scalars()
    }
    stats = db.session.execute(
        select(
            Membership.organization_id,
            func.count(),
            func.count().filter(Membership.role == Role.OWNER),
        )
        .where(Membership.organization_id.in_(org_ids))
        .group_by(Membership.organization_id)
    ).all()
    counts = {org_id: (members, owners) for org_id, members, owners in stats}
    roles = {
        m.organization_id: m.role
        for m in db.session.execute(select(Membership).where(Membership.user_id == user.id)).scalars()
    }
    for org_id in org_ids:
        members, owners = counts[org_id]
        if members > 1 and roles[org_id] == Role.OWNER and owners <= 1:
            org = orgs[org_id]
            raise errors.Conflict(
                f"You are the last owner of the organization '{org.name}' ({org.slug}), which has "
                "other members: make another member an owner or delete the organization first",
                {"organization": {"id": str(org.id), "name": org.name, "slug": org.slug}},
            )
    departures: list[Departure] = []
    for org_id in org_ids:
        org = orgs[org_id]
        sole = counts[org_id][0] == 1
        departures.append(Departure(org.id, org.name, org.slug, roles[org_id], sole))
        if sole:
            _delete_org_rows(org)
    db.session.execute(delete(Membership).where(Membership.user_id == user.id))
    db.session.flush()
    return departures


def record_departures(departures: list[Departure], user_id: uuid.UUID, ctx: RequestInfo) -> None:
    """Audit what `release_user_organizations` did (after the account's rows are gone)."""
    for d in departures:
        if d.org_deleted:
            _record_org_deleted(
                d.organization_id, d.name, d.slug, user_id, ctx, "sole_member_account_deleted"
            )
        else:
            audit.record(
                "org.member_removed",
                ctx,
                actor_user_id=user_id,
                organization_id=d.organization_id,
                target_type="user",
                target_id=user_id,
                details={"role": d.role.value, "left": True, "reason": "account_deleted"},
            )


# --- audit log -------------------------------------------------------------------------------


def list_audit_logs(
    org_id: uuid.UUID | str,
    user: User,
    filters: dict[str, Any],
    *,
    page: int,
    per_page: int,
    ctx: RequestInfo,
) -> Page:
    """The org's audit rows, newest first (admins and owners)."""
    membership = require_membership(org_id, user, Role.ADMIN, ctx=ctx, action="org.audit_read")
    total, rows = audit.search(
        [AuditLog.organization_id == membership.organization_id], filters, page=page, per_page=per_page
    )
    return Page([audit.as_dict(row) for row in rows], total)

"""Schemas for organizations, memberships and the audit-log read APIs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.models.organization import Role
from app.schemas.fields import Email, SafeString

# Lower-case letters, digits and single hyphens, no leading/trailing hyphen: safe in URLs
# (SAML metadata paths use the slug) and in DNS labels.
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX = 63
ROLE_CHOICES = [role.value for role in Role]
# Audit action names are dotted lower-case words; a trailing `*` asks for a prefix match.
ACTION_FILTER_RE = re.compile(r"^[a-z0-9_.]{1,64}\*?$")
# An unencoded `+` in a query string arrives as a space: `...T10:00:00 02:00` meant `+02:00`.
_LOST_PLUS_RE = re.compile(r"^(.*\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


class UTCTimestamp(fields.AwareDateTime):
    """An ISO 8601 date or date-time (naive means UTC), loaded as an aware datetime in UTC."""

    def __init__(self, **kwargs: Any) -> None:
        """ISO 8601 only; naive input is taken to be UTC."""
        super().__init__(format="iso", default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, str):
            if len(value) > 64:
                raise ValidationError("Not a valid ISO 8601 date-time.")
            value = _LOST_PLUS_RE.sub(r"\1+\2", value)
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC.
            raise ValidationError("Date-time is out of range.") from exc


class Slug(SafeString):
    """A URL-safe slug: `[a-z0-9]` words joined by single hyphens, at most 63 characters."""

    def __init__(self, **kwargs: Any) -> None:
        """Lengths are fixed by the slug rules."""
        super().__init__(max_length=SLUG_MAX, min_length=1, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not SLUG_RE.match(text):
            raise ValidationError(
                "Use lower-case letters, digits and single hyphens (not at the start or end)."
            )
        return text


class RoleField(fields.String):
    """One of owner, admin, member; loads as a Role."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Role:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text not in ROLE_CHOICES:
            raise ValidationError(f"Must be one of: {', '.join(ROLE_CHOICES)}.")
        return Role(text)


class OrganizationCreateSchema(Schema):
    """POST /organizations body; the slug is derived from the name when omitted."""

    name = SafeString(required=True, max_length=200, min_length=1)
    slug = Slug()
    description = SafeString(max_length=2000, multiline=True, allow_none=True)


class OrganizationUpdateSchema(Schema):
    """PATCH /organizations/:id body; at least one field."""

    name = SafeString(max_length=200, min_length=1)
    slug = Slug()
    description = SafeString(max_length=2000, multiline=True, allow_none=True)

    @validates_schema
    def require_something(self, data: dict, **kwargs: object) -> None:
        """An empty PATCH is a mistake worth reporting."""
        if not data:
            raise ValidationError("Provide at least one of: name, slug, description.", "_schema")


class MemberAddSchema(Schema):
    """POST /organizations/:id/members body: an existing user's email and a role (default member)."""

    email = Email(required=True)
    role = RoleField(load_default=Role.MEMBER)


class MemberRoleSchema(Schema):
    """PATCH /organizations/:id/members/:userId/role body."""

    role = RoleField(required=True)


class MemberListQuerySchema(Schema):
    """Query string of GET /organizations/:id/members (besides page/per_page)."""

    role = RoleField()


class AuditLogQuerySchema(Schema):
    """Query string of the audit-log read APIs (besides page/per_page)."""

    action = fields.String(validate=validate.Regexp(ACTION_FILTER_RE, error="Not a valid action name."))
    actor = fields.UUID()
    since = UTCTimestamp()
    until = UTCTimestamp()

    @validates_schema
    def check_range(self, data: dict, **kwargs: object) -> None:
        """`since` must not be after `until`."""
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None and since > until:
            raise ValidationError("Must not be later than `until`.", "since")


class OrganizationSchema(Schema):
    """An organization as the API shows it."""

    id = fields.UUID()
    name = fields.String()
    slug = fields.String()
    description = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class MemberSchema(Schema):
    """A membership joined with its user (dumped from a dict)."""

    user_id = fields.UUID()
    email = fields.String()
    name = fields.String(allow_none=True)
    role = fields.String()
    joined_at = fields.DateTime()


class AuditLogSchema(Schema):
    """One audit row as the read APIs show it (hashes included so clients can anchor the chain)."""

    id = fields.Integer()
    occurred_at = fields.DateTime()
    action = fields.String()
    actor_user_id = fields.UUID(allow_none=True)
    organization_id = fields.UUID(allow_none=True)
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    details = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()

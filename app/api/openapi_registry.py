"""The OpenAPI registry: one entry per /api endpoint, read by app/api/docs.py to build the spec.

Adding a route = adding one entry to REGISTRY below, keyed by its Flask endpoint name
("<blueprint>.<view function>"):

    "orgs.create_organization": Op(
        auth=SESSION, body=OrganizationCreateSchema, status=201,
        data={"organization": OrganizationSchema}, errors=(409,),
    ),

- `body` is the SAME marshmallow schema the view passes to `load()`, so the documented body is the
  validated one (unknown fields are refused: `additionalProperties: false`).
- `data` describes the envelope's `data`: a marshmallow schema, a dict of property -> schema
  (`[Schema]` for a list of them, `int` / `str` / `bool` for scalars, a dict with "type" for a raw
  JSON Schema), or None for `{}`.
- The errors every route can give are added from what it takes: a body adds 400/413/415/422,
  `query` adds 422, a path parameter adds 404, SESSION adds 401 (and 403 for the CSRF check on
  unsafe methods), and every route may answer 429 and 503. `errors` lists the route's own extras.
- `summary` defaults to the first line of the view's docstring.
- A route whose success is not the envelope (a redirect, an XML document) gives `responses`
  ({302: {"description": "...", "headers": {...}}}); its errors are still the envelope.

tests/integration/test_openapi.py fails, naming the endpoints, when an /api route has no entry here
or an entry names an endpoint that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, fields, validate

from app.schemas.auth import LoginSchema, RegisterSchema, SessionSchema, UserSchema
from app.schemas.users import AccountDeleteSchema, PasswordChangeSchema, UserUpdateSchema

PUBLIC = "public"
SESSION = "session"

DataSpec = Any  # Schema class | dict[str, DataSpec] | list[DataSpec] | type | None


@dataclass(frozen=True)
class Op:
    """How one endpoint (one method of it) appears in the OpenAPI document."""

    data: DataSpec = None
    body: type[Schema] | None = None
    body_optional: bool = False
    status: int = 200
    errors: tuple[int, ...] = ()
    auth: str = PUBLIC
    query: type[Schema] | None = None
    meta: type[Schema] | None = None
    summary: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    example: dict[str, Any] | None = None
    # Success responses that are not the JSON envelope (a 302 to a provider, SAML metadata XML):
    # raw OpenAPI response objects by status, used instead of `data`/`status`.
    responses: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Routes under /api that are not part of the JSON contract (the docs page and its assets).
    hidden: bool = False
    path_params: dict[str, str] = field(default_factory=dict)


# --- Schemas that exist only to describe responses (the views build these shapes by hand). ---


class LoginSessionSchema(SessionSchema):
    """The session returned by a login: the listing shape plus the token and CSRF token, shown once."""

    token = fields.String(metadata={"description": "Bearer token; also set as the HttpOnly cookie."})
    csrf_token = fields.String(metadata={"description": "Echo in X-CSRF-Token for cookie requests."})


class MembershipSummarySchema(Schema):
    """One organization of the caller, with the caller's role in it."""

    id = fields.UUID()
    name = fields.String()
    slug = fields.String()
    role = fields.String(validate=validate.OneOf(["owner", "admin", "member"]))
    joined_at = fields.DateTime()


class HealthChecksSchema(Schema):
    """The state of each dependency."""

    database = fields.String(validate=validate.OneOf(["ok", "unavailable"]))
    session_store = fields.String(validate=validate.OneOf(["ok", "unavailable"]))


class PageMetaSchema(Schema):
    """`meta` of a paginated list."""

    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


class TotalMetaSchema(Schema):
    """`meta` of an unpaginated list."""

    total = fields.Integer()


class PageQuerySchema(Schema):
    """`page` and `per_page` query parameters (see app.api.common.pagination_args)."""

    page = fields.Integer(validate=validate.Range(min=1, max=10_000_000), metadata={"default": 1})
    per_page = fields.Integer(validate=validate.Range(min=1, max=100), metadata={"default": 20})


EXAMPLE_EMAIL = "ada@example.com"
EXAMPLE_PASSWORD = "Analytical-Engine-1843"  # noqa: S105 - documentation example, not a credential

# --- The registry. Keep it grouped by blueprint, in the blueprint's order. ---

REGISTRY: dict[str, Op | dict[str, Op]] = {
    # health
    "health.health": Op(data={"status": str, "checks": HealthChecksSchema}, tags=("health",)),
    # auth
    "auth.register": Op(
        body=RegisterSchema,
        status=201,
        data={"user": UserSchema},
        errors=(409,),
        example={"email": EXAMPLE_EMAIL, "password": EXAMPLE_PASSWORD, "name": "Ada Lovelace"},
    ),
    "auth.login": Op(
        body=LoginSchema,
        data={"user": UserSchema, "session": LoginSessionSchema},
        errors=(401,),
        example={"email": EXAMPLE_EMAIL, "password": EXAMPLE_PASSWORD},
        description="Sets the HttpOnly session cookie and the readable `csrf_token` cookie.",
    ),
    "auth.logout": Op(auth=SESSION),
    "auth.me": Op(auth=SESSION, data={"user": UserSchema}),
    "auth.list_sessions": Op(auth=SESSION, data={"sessions": [SessionSchema]}, meta=TotalMetaSchema),
    "auth.revoke_session": Op(
        auth=SESSION, path_params={"session_id": "The public session id from GET /auth/sessions."}
    ),
    # users
    "users.get_me": Op(auth=SESSION, data={"user": UserSchema}),
    "users.update_me": Op(
        auth=SESSION,
        body=UserUpdateSchema,
        data={"user": UserSchema},
        errors=(409,),
        example={"name": "Ada King"},
    ),
    "users.delete_me": Op(auth=SESSION, body=AccountDeleteSchema, body_optional=True),
    "users.change_password": Op(auth=SESSION, body=PasswordChangeSchema, data={"sessions_revoked": int}),
    "users.list_my_organizations": Op(
        auth=SESSION, data={"organizations": [MembershipSummarySchema]}, meta=TotalMetaSchema
    ),
    # docs (this module's consumer): not part of the JSON contract
    "docs.openapi_json": Op(hidden=True),
    "docs.swagger_ui": Op(hidden=True),
    "docs.swagger_init": Op(hidden=True),
    "docs.swagger_asset": Op(hidden=True),
}


def lookup(endpoint: str, method: str) -> Op | None:
    """The entry for `endpoint` and `method` (an entry may be per method: {"GET": Op, ...})."""
    entry = REGISTRY.get(endpoint)
    if isinstance(entry, dict):
        return entry.get(method.upper())
    return entry

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

from app.api.external import IdentitySchema
from app.schemas.account import PasswordForgotSchema, PasswordResetSchema, VerifyEmailSchema
from app.schemas.auth import LoginSchema, RegisterSchema, SessionSchema, UserSchema
from app.schemas.contact import ContactSchema
from app.schemas.oauth_clients import ClientCreateSchema, ClientSchema, ClientUpdateSchema
from app.schemas.organizations import (
    SLUG_MAX,
    SLUG_RE,
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
from app.schemas.sso import DiscoverSchema, SsoConnectionPutSchema, SsoConnectionSchema
from app.schemas.users import AccountDeleteSchema, PasswordChangeSchema, UserUpdateSchema
from app.services.federation import SOCIAL_PROVIDERS

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
    # Query-string schemas (one, or a tuple: e.g. PageQuerySchema plus the view's filter schema).
    query: type[Schema] | tuple[type[Schema], ...] | None = None
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
    # JSON Schemas of path parameters where the converter says less than the view accepts.
    path_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Raw OpenAPI parameter objects for query values a view reads without a schema (redirect legs).
    parameters: tuple[dict[str, Any], ...] = ()
    # A raw OpenAPI requestBody for a body that is not JSON (the SAML ACS form POST).
    request_body: dict[str, Any] | None = None


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


class OrganizationViewSchema(OrganizationSchema):
    """An organization with the caller's role in it and its member count (create and get)."""

    role = fields.String(validate=validate.OneOf(["owner", "admin", "member"]))
    member_count = fields.Integer()


class OrganizationUpdatedSchema(OrganizationSchema):
    """An organization after a PATCH, with the caller's role in it."""

    role = fields.String(validate=validate.OneOf(["owner", "admin", "member"]))


class ClientWithSecretSchema(ClientSchema):
    """A client just created or with a rotated secret: `client_secret` is shown this once (null for
    public clients)."""

    client_secret = fields.String(allow_none=True)


class ConsentSchema(Schema):
    """An application the caller approved, and the scopes approved."""

    client_id = fields.String()
    client_name = fields.String()
    scope = fields.String()
    granted_at = fields.DateTime()


# The view builds it with the org's slug and PUBLIC_BASE_URL; these only shape the documentation.
SSO_CONNECTION = SsoConnectionSchema(public_base="", slug="")
DISCOVERY = {
    "type": "object",
    "required": ["sso"],
    "additionalProperties": False,
    "properties": {
        "sso": {"type": "boolean"},
        "methods": {"type": "array", "items": {"type": "string"}, "description": "When `sso` is false."},
        "type": {"type": "string", "enum": ["saml", "oidc"]},
        "organization": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "slug": {"type": "string"}},
        },
        "login_url": {"type": "string", "description": "When `sso` is true: send the browser here."},
    },
}
UUID_STRING = {"type": "string", "format": "uuid"}


def redirect_to(description: str) -> dict[int, dict[str, Any]]:
    """A 302 success with its Location header (the browser legs of social login and SSO)."""
    return {
        302: {
            "description": description,
            "headers": {"Location": {"description": "Where to go next", "schema": {"type": "string"}}},
        }
    }


# Printable ASCII, no space: what OAuth `code`/`state`/`error` are made of (RFC 6749 VSCHAR) and what
# a `next` URL is once the browser has percent-encoded it.
VISIBLE_ASCII = r"^[\x21-\x7E]*$"


def query_param(name: str, description: str, max_length: int) -> dict[str, Any]:
    """An optional string query parameter the view reads directly (printable ASCII)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", "maxLength": max_length, "pattern": VISIBLE_ASCII},
    }


# gunicorn refuses a request line over 4094 bytes (limit_request_line) with its own HTML 400 before
# the app runs, so the documented maxima keep a route's whole request line inside it even when every
# character is percent-encoded (x3); tests/integration/test_fuzz_regressions.py checks the sum.
NEXT_PARAM = query_param("next", "Where to land afterwards; must be under FRONTEND_URL (else ignored).", 1024)
CALLBACK_PARAMS = (
    query_param("code", "The authorization code.", 960),
    query_param("state", "The state sent with the authorization request.", 128),
    query_param("error", "The provider's error code, if it refused.", 64),
)
PROVIDER_PARAM = {"provider": "google, github or microsoft (404 unless configured)."}
PROVIDER_SCHEMA = {"provider": {"type": "string", "enum": list(SOCIAL_PROVIDERS)}}
ORG_SLUG_PARAM = {"org_slug": "The organization's slug (404 unless it has an enabled connection)."}
ORG_SLUG_SCHEMA = {"org_slug": {"type": "string", "pattern": SLUG_RE.pattern, "maxLength": SLUG_MAX}}
ORG_ID_PARAM = {"org_id": "The organization's id."}
# Routes whose org_id has no uuid converter (the view parses it; anything else is a 404).
ORG_ID_SCHEMA = {"org_id": UUID_STRING}
ORG_ROLE_ERRORS = (403,)  # a member whose role is too weak (non-members get 404)

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
    "users.list_my_audit_logs": Op(
        auth=SESSION,
        query=(PageQuerySchema, AuditLogQuerySchema),
        data={"audit_logs": [AuditLogSchema]},
        meta=PageMetaSchema,
    ),
    # account (mail flows)
    "account.verify_email": Op(body=VerifyEmailSchema, data={"email_verified": bool}),
    "account.resend_verification": Op(auth=SESSION, status=202, errors=(409,)),
    "account.forgot_password": Op(
        body=PasswordForgotSchema,
        status=202,
        example={"email": EXAMPLE_EMAIL},
        description="Answers the same whether or not the account exists.",
    ),
    "account.reset_password": Op(body=PasswordResetSchema, data={"sessions_revoked": int}),
    # contact
    "contact.submit_contact": Op(
        body=ContactSchema,
        status=202,
        data={"enquiry": {"id": UUID_STRING, "type": str}},
        example={
            "type": "sales",
            "name": "Ada Lovelace",
            "email": EXAMPLE_EMAIL,
            "message": "We would like a demo.",
        },
    ),
    # organizations
    "organizations.create_organization": Op(
        auth=SESSION,
        body=OrganizationCreateSchema,
        status=201,
        data={"organization": OrganizationViewSchema},
        errors=(409,),
        example={"name": "Analytical Engines", "slug": "analytical-engines"},
    ),
    "organizations.get_organization": Op(
        auth=SESSION, data={"organization": OrganizationViewSchema}, path_params=ORG_ID_PARAM
    ),
    "organizations.update_organization": Op(
        auth=SESSION,
        body=OrganizationUpdateSchema,
        data={"organization": OrganizationUpdatedSchema},
        errors=(*ORG_ROLE_ERRORS, 409),
        path_params=ORG_ID_PARAM,
    ),
    "organizations.delete_organization": Op(auth=SESSION, errors=ORG_ROLE_ERRORS, path_params=ORG_ID_PARAM),
    "organizations.list_members": Op(
        auth=SESSION,
        query=(PageQuerySchema, MemberListQuerySchema),
        data={"members": [MemberSchema]},
        meta=PageMetaSchema,
        path_params=ORG_ID_PARAM,
    ),
    "organizations.add_member": Op(
        auth=SESSION,
        body=MemberAddSchema,
        status=201,
        data={"member": MemberSchema},
        errors=(*ORG_ROLE_ERRORS, 409),
        path_params=ORG_ID_PARAM,
    ),
    "organizations.remove_member": Op(auth=SESSION, errors=(*ORG_ROLE_ERRORS, 409), path_params=ORG_ID_PARAM),
    "organizations.change_member_role": Op(
        auth=SESSION,
        body=MemberRoleSchema,
        data={"member": MemberSchema},
        errors=(*ORG_ROLE_ERRORS, 409),
        path_params=ORG_ID_PARAM,
    ),
    "organizations.list_audit_logs": Op(
        auth=SESSION,
        query=(PageQuerySchema, AuditLogQuerySchema),
        data={"audit_logs": [AuditLogSchema]},
        meta=PageMetaSchema,
        errors=ORG_ROLE_ERRORS,
        path_params=ORG_ID_PARAM,
    ),
    # OIDC clients of an organization (admins and owners)
    "oauth_clients.create_client": Op(
        auth=SESSION,
        body=ClientCreateSchema,
        status=201,
        data={"client": ClientWithSecretSchema},
        errors=(*ORG_ROLE_ERRORS, 409),
        path_params=ORG_ID_PARAM,
        path_schemas=ORG_ID_SCHEMA,
        example={"name": "Dashboard", "redirect_uris": ["https://app.example.com/callback"]},
    ),
    "oauth_clients.list_clients": Op(
        auth=SESSION,
        query=PageQuerySchema,
        data={"clients": [ClientSchema]},
        meta=PageMetaSchema,
        errors=ORG_ROLE_ERRORS,
        path_params=ORG_ID_PARAM,
        path_schemas=ORG_ID_SCHEMA,
    ),
    "oauth_clients.get_client": Op(
        auth=SESSION,
        data={"client": ClientSchema},
        errors=ORG_ROLE_ERRORS,
        path_params=ORG_ID_PARAM,
        path_schemas=ORG_ID_SCHEMA,
    ),
    "oauth_clients.update_client": Op(
        auth=SESSION,
        body=ClientUpdateSchema,
        data={"client": ClientSchema},
        errors=ORG_ROLE_ERRORS,
        path_params=ORG_ID_PARAM,
        path_schemas=ORG_ID_SCHEMA,
    ),
    "oauth_clients.delete_client": Op(
        auth=SESSION, errors=ORG_ROLE_ERRORS, path_params=ORG_ID_PARAM, path_schemas=ORG_ID_SCHEMA
    ),
    "oauth_clients.rotate_secret": Op(
        auth=SESSION,
        data={"client": ClientWithSecretSchema},
        errors=(400, *ORG_ROLE_ERRORS),
        path_params=ORG_ID_PARAM,
        path_schemas=ORG_ID_SCHEMA,
        description="400 for a public client (it has no secret).",
    ),
    # the caller's OIDC consents
    "oauth_consents.list_consents": Op(
        auth=SESSION, data={"consents": [ConsentSchema]}, meta=TotalMetaSchema
    ),
    "oauth_consents.revoke_consent": Op(auth=SESSION),
    # social login and linked identities
    "external.list_providers": Op(data={"providers": [str]}),
    "external.external_login": Op(
        responses=redirect_to("To the provider's authorization page"),
        errors=(401,),
        path_params=PROVIDER_PARAM,
        path_schemas=PROVIDER_SCHEMA,
        parameters=(
            NEXT_PARAM,
            query_param("link", "`1` links the provider to the signed-in account (needs the cookie).", 8),
        ),
    ),
    "external.external_callback": Op(
        responses=redirect_to("To FRONTEND_URL (or `next`), with `?error=<code>` on any failure"),
        path_params=PROVIDER_PARAM,
        path_schemas=PROVIDER_SCHEMA,
        parameters=CALLBACK_PARAMS,
    ),
    "external.list_identities": Op(auth=SESSION, data={"identities": [IdentitySchema]}, meta=TotalMetaSchema),
    "external.unlink_identity": Op(
        auth=SESSION, errors=(409,), description="409 if it is the caller's last way to sign in."
    ),
    # enterprise SSO
    "sso.get_sso": Op(
        auth=SESSION,
        data={"connection": SSO_CONNECTION},
        errors=ORG_ROLE_ERRORS,
        path_params=ORG_ID_PARAM,
        path_schemas=ORG_ID_SCHEMA,
    ),
    "sso.put_sso": Op(
        auth=SESSION,
        body=SsoConnectionPutSchema,
        data={"connection": SSO_CONNECTION},
        errors=(*ORG_ROLE_ERRORS, 409),
        path_params=ORG_ID_PARAM,
        path_schemas=ORG_ID_SCHEMA,
        example={
            "type": "oidc",
            "email_domains": ["example.com"],
            "issuer": "https://idp.example.com",
            "client_id": "authy2",
            "client_secret": "change-me",
        },
    ),
    "sso.delete_sso": Op(
        auth=SESSION, errors=ORG_ROLE_ERRORS, path_params=ORG_ID_PARAM, path_schemas=ORG_ID_SCHEMA
    ),
    "sso.discover": Op(body=DiscoverSchema, data=DISCOVERY, example={"email": EXAMPLE_EMAIL}),
    "sso.saml_metadata": Op(
        responses={
            200: {
                "description": "The SP metadata (signed XML)",
                "content": {"application/samlmetadata+xml": {"schema": {"type": "string"}}},
            }
        },
        path_params=ORG_SLUG_PARAM,
        path_schemas=ORG_SLUG_SCHEMA,
    ),
    "sso.saml_login": Op(
        responses=redirect_to("To the IdP with a signed AuthnRequest"),
        path_params=ORG_SLUG_PARAM,
        path_schemas=ORG_SLUG_SCHEMA,
        parameters=(NEXT_PARAM,),
    ),
    "sso.saml_acs": Op(
        responses=redirect_to("To FRONTEND_URL (or RelayState's `next`), `?error=<code>` on any failure"),
        path_params=ORG_SLUG_PARAM,
        path_schemas=ORG_SLUG_SCHEMA,
        request_body={
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "SAMLResponse": {"type": "string", "description": "Base64 SAML Response"},
                            "RelayState": {"type": "string"},
                        },
                    }
                }
            },
        },
    ),
    "sso.oidc_login": Op(
        responses=redirect_to("To the organization's OIDC provider"),
        path_params=ORG_SLUG_PARAM,
        path_schemas=ORG_SLUG_SCHEMA,
        parameters=(NEXT_PARAM,),
    ),
    "sso.oidc_callback": Op(
        responses=redirect_to("To FRONTEND_URL (or `next`), with `?error=<code>` on any failure"),
        path_params=ORG_SLUG_PARAM,
        path_schemas=ORG_SLUG_SCHEMA,
        parameters=CALLBACK_PARAMS,
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

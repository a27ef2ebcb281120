"""Schemas for OIDC client management (/api/v1/organizations/:id/clients)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.models.oauth import GRANT_TYPES, TOKEN_ENDPOINT_AUTH_METHODS
from app.schemas.fields import SafeString

_URI = SafeString(max_length=2000, min_length=1, normalize=False)


class ClientCreateSchema(Schema):
    """POST body: what an org admin may set; the client_id and secret are generated."""

    name = SafeString(required=True, max_length=200, min_length=1)
    redirect_uris = fields.List(_URI, load_default=list, validate=validate.Length(max=20))
    post_logout_redirect_uris = fields.List(_URI, load_default=list, validate=validate.Length(max=20))
    grant_types = fields.List(
        fields.String(validate=validate.OneOf(GRANT_TYPES)), validate=validate.Length(min=1, max=3)
    )
    scope = SafeString(max_length=500, min_length=1)
    token_endpoint_auth_method = fields.String(validate=validate.OneOf(TOKEN_ENDPOINT_AUTH_METHODS))
    require_pkce = fields.Boolean()


class ClientUpdateSchema(Schema):
    """PATCH body: any subset of the settings (the auth method and secret cannot change here)."""

    name = SafeString(max_length=200, min_length=1)
    redirect_uris = fields.List(_URI, validate=validate.Length(max=20))
    post_logout_redirect_uris = fields.List(_URI, validate=validate.Length(max=20))
    grant_types = fields.List(
        fields.String(validate=validate.OneOf(GRANT_TYPES)), validate=validate.Length(min=1, max=3)
    )
    scope = SafeString(max_length=500, min_length=1)
    require_pkce = fields.Boolean()
    is_active = fields.Boolean()

    @validates_schema
    def require_something(self, data: dict, **kwargs: object) -> None:
        """An empty PATCH is a mistake worth reporting."""
        if not data:
            raise ValidationError("Provide at least one field to change.", "_schema")


class ClientSchema(Schema):
    """A client as shown to org admins (never the secret or its hash)."""

    client_id = fields.String()
    organization_id = fields.UUID()
    name = fields.String()
    redirect_uris = fields.List(fields.String())
    post_logout_redirect_uris = fields.List(fields.String())
    grant_types = fields.List(fields.String())
    scope = fields.String()
    token_endpoint_auth_method = fields.String()
    require_pkce = fields.Boolean()
    is_active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

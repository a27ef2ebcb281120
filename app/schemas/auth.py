"""Schemas for registration, login and sessions."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.schemas.fields import Email, Password, SafeString


class RegisterSchema(Schema):
    """POST /auth/register body."""

    email = Email(required=True)
    password = Password(required=True, load_only=True)
    name = SafeString(max_length=200, min_length=1, load_default=None, allow_none=True)


class LoginSchema(Schema):
    """POST /auth/login body."""

    email = Email(required=True)
    password = Password(required=True, load_only=True)


class UserSchema(Schema):
    """A user as the API shows it (never the password hash)."""

    id = fields.UUID()
    email = fields.String()
    name = fields.String(allow_none=True)
    email_verified = fields.Boolean()
    is_active = fields.Boolean()
    has_password = fields.Method("get_has_password", metadata={"type": "boolean"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    last_login_at = fields.DateTime(allow_none=True)

    def get_has_password(self, obj: object) -> bool:
        """Whether the account can sign in with a password."""
        return bool(getattr(obj, "password_hash", None))


class SessionSchema(Schema):
    """A session as listed to its owner (never the token or its hash)."""

    id = fields.String()
    auth_method = fields.String()
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    created_at = fields.DateTime()
    last_seen_at = fields.DateTime()
    expires_at = fields.DateTime()
    current = fields.Boolean()

"""Schemas for the /users/me endpoints."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, validates_schema

from app.schemas.fields import Email, Password, SafeString


class UserUpdateSchema(Schema):
    """PATCH /users/me body: only these fields; anything else (role, is_superadmin, ...) is refused."""

    name = SafeString(max_length=200, min_length=1, allow_none=True)
    email = Email()
    current_password = Password(load_only=True)

    @validates_schema
    def require_something(self, data: dict, **kwargs: object) -> None:
        """An empty PATCH is a mistake worth reporting."""
        if not any(key in data for key in ("name", "email")):
            raise ValidationError("Provide at least one of: name, email.", "_schema")


class PasswordChangeSchema(Schema):
    """POST /users/me/password body."""

    current_password = Password(required=True, load_only=True)
    new_password = Password(required=True, load_only=True)


class AccountDeleteSchema(Schema):
    """DELETE /users/me body: the password confirms the deletion (omit it for SSO-only accounts)."""

    password = Password(load_only=True)

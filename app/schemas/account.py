"""Schemas for email verification and password reset."""

from __future__ import annotations

from marshmallow import Schema

from app.schemas.fields import Email, Password, SafeString


class VerifyEmailSchema(Schema):
    """POST /auth/verify-email body."""

    token = SafeString(required=True, min_length=1, max_length=256, load_only=True)


class PasswordForgotSchema(Schema):
    """POST /auth/password/forgot body."""

    email = Email(required=True)


class PasswordResetSchema(Schema):
    """POST /auth/password/reset body."""

    token = SafeString(required=True, min_length=1, max_length=256, load_only=True)
    new_password = Password(required=True, load_only=True)

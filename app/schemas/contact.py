"""Schemas for the public contact form."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.models.contact import EnquiryType
from app.schemas.fields import Email, SafeString

MESSAGE_MAX_LENGTH = 5000


class ContactSchema(Schema):
    """POST /contact body: shape and format only; unknown fields are refused."""

    type = fields.String(
        required=True,
        validate=validate.OneOf([t.value for t in EnquiryType], error="Must be one of: {choices}."),
    )
    name = SafeString(required=True, min_length=1, max_length=200)
    email = Email(required=True)
    company = SafeString(max_length=200, load_default=None, allow_none=True)
    phone = SafeString(
        max_length=40,
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(
            r"^[0-9A-Za-z +()./#*,-]*$", error="Use digits, spaces and + ( ) - . / only."
        ),
    )
    message = SafeString(required=True, min_length=1, max_length=MESSAGE_MAX_LENGTH, multiline=True)

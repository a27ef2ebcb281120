"""The public contact form (no authentication; rate limited per IP)."""

from __future__ import annotations

from flask import Blueprint, Response

from app.api.common import load, request_info
from app.envelope import success
from app.extensions import db
from app.schemas.contact import ContactSchema
from app.security.ratelimit import contact_limit
from app.services import contact as contact_service

bp = Blueprint("contact", __name__, url_prefix="/api/v1/contact")


@bp.post("")
@contact_limit
def submit_contact() -> Response:
    """Store an enquiry and queue its mail to CONTACT_RECIPIENT; 202 whatever SMTP does."""
    data = load(ContactSchema())
    enquiry = contact_service.submit_enquiry(data, request_info())
    db.session.commit()
    return success(
        {"enquiry": {"id": str(enquiry.id), "type": enquiry.type.value}},
        "Thank you, your enquiry has been received",
        202,
    )

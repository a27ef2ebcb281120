"""The public contact form: store the enquiry, then mail it to CONTACT_RECIPIENT via the outbox."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from app.extensions import db
from app.models.base import utcnow
from app.models.contact import ContactEnquiry, EnquiryType
from app.services import mail
from app.services.context import RequestInfo

logger = logging.getLogger(__name__)


def submit_enquiry(data: dict[str, Any], ctx: RequestInfo) -> ContactEnquiry:
    """Store an enquiry and its outbox message in the caller's transaction (flushed, not committed).

    The mail goes to CONTACT_RECIPIENT with Reply-To set to the sender, so answering it reaches them.
    """
    enquiry = ContactEnquiry(
        type=EnquiryType(data["type"]),
        name=data["name"],
        email=data["email"],
        company=data.get("company") or None,
        phone=data.get("phone") or None,
        message=data["message"],
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        request_id=ctx.request_id,
        created_at=utcnow(),
    )
    db.session.add(enquiry)
    db.session.flush()
    text, html = mail.render(
        "contact_enquiry",
        enquiry=enquiry,
        enquiry_id=str(enquiry.id),
        received_at=enquiry.created_at.strftime("%Y-%m-%d %H:%M UTC"),
    )
    subject = f"[{enquiry.type.value}] Contact enquiry from {enquiry.name}"
    if enquiry.company:
        subject += f" ({enquiry.company})"
    message = mail.enqueue(
        kind="contact",
        recipient=current_app.config["CONTACT_RECIPIENT"],
        reply_to=enquiry.email,
        subject=subject,
        text=text,
        html=html,
    )
    enquiry.outbox_message_id = message.id
    db.session.flush()
    logger.info("contact enquiry %s (%s) stored, mail %s queued", enquiry.id, enquiry.type.value, message.id)
    return enquiry

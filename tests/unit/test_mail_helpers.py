"""Pure helpers of the mail service: backoff, masking, transport choice, error text, MIME shape."""

from __future__ import annotations

import smtplib
import uuid

import pytest
from flask import Flask

from app.models.mail import OutboxMessage
from app.services import mail
from app.services.account import ttl_text

CONFIG = {"MAIL_RETRY_BASE_SECONDS": 30, "MAIL_RETRY_MAX_SECONDS": 3600}


@pytest.mark.parametrize(
    ("attempts", "delay"), [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (30, 3600)]
)
def test_backoff_doubles_and_is_capped(attempts, delay):
    assert mail.backoff_seconds(attempts, CONFIG) == delay


@pytest.mark.parametrize(
    ("address", "masked"),
    [("alice@example.com", "a***@example.com"), ("x@y.z", "x***@y.z"), ("broken", "***")],
)
def test_mask_email_hides_the_local_part(address, masked):
    assert mail.mask_email(address) == masked


@pytest.mark.parametrize(
    ("config", "transport"),
    [
        ({"SMTP_HOST": "smtp.example.com", "ENV_NAME": "production"}, "smtp"),
        ({"SMTP_HOST": None, "ENV_NAME": "development"}, "log"),
        ({"SMTP_HOST": None, "ENV_NAME": "testing"}, "log"),
        ({"SMTP_HOST": None, "ENV_NAME": "production"}, "hold"),
    ],
)
def test_transport_depends_on_smtp_host_and_environment(config, transport):
    assert mail.transport_name(config) == transport


def test_error_text_never_carries_the_smtp_password():
    app = Flask(__name__)
    app.config["SMTP_PASSWORD"] = "s3cret-pw"
    exc = smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials for s3cret-pw")
    with app.app_context():
        text = mail._describe(exc)
    assert "s3cret-pw" not in text and "535" in text and "***" in text
    assert not mail._is_permanent(exc)  # a login problem is fixed by configuration, then retried


def test_only_recipient_and_content_refusals_are_permanent():
    assert mail._is_permanent(smtplib.SMTPRecipientsRefused({"a@b.c": (550, b"no")}))
    assert not mail._is_permanent(smtplib.SMTPRecipientsRefused({"a@b.c": (451, b"later")}))
    assert mail._is_permanent(smtplib.SMTPDataError(554, b"spam"))
    assert not mail._is_permanent(smtplib.SMTPSenderRefused(550, b"no", "from@x"))
    assert not mail._is_permanent(ConnectionRefusedError(111, "Connection refused"))


def test_built_email_has_text_and_html_parts_and_a_stable_message_id():
    message = OutboxMessage(
        id=uuid.UUID("12345678-1234-4234-8234-123456789abc"),
        kind="contact",
        recipient="info@secuird.tech",
        reply_to="visitor@example.com",
        subject="Hello",
        body_text="plain body",
        body_html="<p>html body</p>",
    )
    config = {"MAIL_FROM": "Authy2 <no-reply@authy2.example>"}
    built = mail.build_email(message, config)
    assert built["Message-ID"] == "<12345678-1234-4234-8234-123456789abc@authy2.example>"
    assert built["Reply-To"] == "visitor@example.com" and built["From"] == "Authy2 <no-reply@authy2.example>"
    assert built.get_body(("plain",)).get_content().strip() == "plain body"
    assert built.get_body(("html",)).get_content().strip() == "<p>html body</p>"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1800, "30 minutes"), (3600, "1 hour"), (172800, "48 hours"), (60, "1 minute"), (90, "1 minute")],
)
def test_ttl_text_reads_naturally(seconds, text):
    assert ttl_text(seconds) == text

"""Without SMTP_HOST outside production, mail is written to the log (and start-up says so)."""

from __future__ import annotations

import logging

import pytest

from app import create_app
from tests.conftest import close_mail_app
from tests.helpers import assert_envelope


class ListHandler(logging.Handler):
    """Collects formatted records."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def mail_log():
    """Records what app.services.mail logs."""
    handler = ListHandler()
    logger = logging.getLogger("app.services.mail")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def test_startup_says_clearly_that_mail_goes_to_the_log(app, mail_log):
    application = create_app("testing")
    close_mail_app(application)
    assert any("SMTP_HOST is not set" in line and "WRITTEN TO THIS LOG" in line for line in mail_log)


def test_startup_in_production_without_smtp_says_mail_is_held(app, mail_log):
    application = create_app("testing", {"ENV_NAME": "production"})
    close_mail_app(application)
    assert any("NOT delivered" in line and "send-pending" in line for line in mail_log)


def test_development_log_transport_writes_the_verification_link(app, mail_log):
    from app.services.mail import get_dispatcher

    application = create_app("testing")
    try:
        c = application.test_client()
        assert_envelope(
            c.post(
                "/api/v1/auth/register", json={"email": "dev@example.com", "password": "Correct-Horse-42"}
            ),
            201,
        )
        get_dispatcher(application).wait()
    finally:
        close_mail_app(application)
    logged = "\n".join(mail_log)
    assert "To: dev@example.com" in logged
    assert "http://localhost:3000/verify-email?token=" in logged

"""Real HTTP (gunicorn) with a real SMTP sink: contact, verification and reset mails arrive, and
nothing is lost while SMTP is down."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models.mail import OutboxMessage, OutboxStatus
from tests.e2e.conftest import ROOT, LiveServer, server_env
from tests.helpers import DEFAULT_PASSWORD
from tests.smtp_sink import SmtpSink

NEW_PASSWORD = "Over-The-Wire-2027"


@pytest.fixture(scope="module")
def module_sink() -> Iterator[SmtpSink]:
    """One SMTP sink for the module (tests stop and restart it)."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def mail_server(app, module_sink) -> Iterator[LiveServer]:
    """gunicorn delivering mail to the sink."""
    server = LiveServer(server_env(SMTP_HOST="127.0.0.1", SMTP_PORT=str(module_sink.port)))
    yield server
    server.stop()


def wait_mail(sink: SmtpSink, address: str, count: int = 1, timeout: float = 20.0):
    """The `count`-th mail to `address`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sink.to(address)
        if len(found) >= count:
            return found[count - 1]
        time.sleep(0.05)
    raise AssertionError(f"mail #{count} to {address} did not arrive")


def post(url: str, payload: dict, **kwargs) -> requests.Response:
    """POST JSON with a timeout."""
    return requests.post(url, json=payload, timeout=15, **kwargs)


def test_contact_verification_and_reset_mails_arrive_over_http(mail_server, module_sink):
    base = mail_server.url + "/api/v1"
    module_sink.messages.clear()

    resp = post(
        f"{base}/contact",
        {
            "type": "demo",
            "name": "Live Visitor",
            "email": "visitor@example.com",
            "message": "A demo, please.",
        },
    )
    assert resp.status_code == 202 and resp.json()["success"] is True
    contact = wait_mail(module_sink, "info@secuird.tech")
    assert contact.message["Reply-To"] == "visitor@example.com"
    assert contact.message["Subject"] == "[demo] Contact enquiry from Live Visitor"

    assert (
        post(f"{base}/auth/register", {"email": "live@example.com", "password": DEFAULT_PASSWORD}).status_code
        == 201
    )
    verify = wait_mail(module_sink, "live@example.com")
    assert verify.message["Subject"] == "Confirm your email address"
    assert post(f"{base}/auth/verify-email", {"token": verify.token()}).status_code == 200

    forgot = post(f"{base}/auth/password/forgot", {"email": "LIVE@example.com"})
    unknown = post(f"{base}/auth/password/forgot", {"email": "ghost@example.com"})
    assert forgot.status_code == unknown.status_code == 202
    assert {k: v for k, v in forgot.json().items() if k != "request_id"} == {
        k: v for k, v in unknown.json().items() if k != "request_id"
    }
    reset = wait_mail(module_sink, "live@example.com", count=2)
    assert reset.message["Subject"] == "Reset your password"
    done = post(f"{base}/auth/password/reset", {"token": reset.token(), "new_password": NEW_PASSWORD})
    assert done.status_code == 200, done.text
    login = post(f"{base}/auth/login", {"email": "live@example.com", "password": NEW_PASSWORD})
    assert login.status_code == 200
    assert login.json()["data"]["user"]["email_verified"] is True
    assert not module_sink.to("ghost@example.com")


def test_nothing_is_lost_while_smtp_is_down_and_everything_arrives_after_restart(
    app, mail_server, module_sink
):
    base = mail_server.url + "/api/v1"
    module_sink.stop()
    module_sink.messages.clear()
    try:
        resp = post(
            f"{base}/contact",
            {"type": "support", "name": "Outage", "email": "outage@example.com", "message": "Help!"},
        )
        assert resp.status_code == 202
        assert (
            post(
                f"{base}/auth/register", {"email": "down@example.com", "password": DEFAULT_PASSWORD}
            ).status_code
            == 201
        )
        assert post(f"{base}/auth/password/forgot", {"email": "down@example.com"}).status_code == 202

        # The server tried at once (in the background), failed, and kept every row.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with app.app_context():
                rows = db.session.execute(select(OutboxMessage)).scalars().all()
                tried = [r for r in rows if r.attempts >= 1]
                kinds = sorted(r.kind for r in rows if r.status is OutboxStatus.PENDING)
                db.session.remove()
            if len(tried) >= 3:
                break
            time.sleep(0.1)
        assert kinds == ["contact", "password_reset", "verify_email"], kinds
        assert len(tried) == 3
    finally:
        module_sink.start()

    env = server_env(SMTP_HOST="127.0.0.1", SMTP_PORT=str(module_sink.port))
    result = subprocess.run(
        [sys.executable, "manage.py", "mail", "send-pending", "--ignore-schedule"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "3 sent" in result.stdout
    assert wait_mail(module_sink, "info@secuird.tech").message["Reply-To"] == "outage@example.com"
    subjects = sorted(m.message["Subject"] for m in module_sink.to("down@example.com"))
    assert subjects == ["Confirm your email address", "Reset your password"]

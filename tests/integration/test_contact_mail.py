"""POST /api/v1/contact and the outbox behind it, against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from app import create_app
from app.extensions import db
from app.models.base import utcnow
from app.models.contact import ContactEnquiry
from app.models.mail import OutboxMessage, OutboxStatus
from app.services import mail
from tests.conftest import close_mail_app, make_mail_app
from tests.helpers import assert_envelope
from tests.smtp_sink import SmtpSink

CONTACT = "/api/v1/contact"
ROOT = Path(__file__).resolve().parents[2]


def enquiry(**extra):
    """A valid contact form body."""
    body = {
        "type": "sales",
        "name": "Grace Hopper",
        "email": "grace@navy.example",
        "company": "Navy",
        "phone": "+1 (555) 010-0199",
        "message": "We would like 500 seats.\nCan we talk next week?",
    }
    body.update(extra)
    return body


def outbox_rows(application):
    """Every outbox row, oldest first (detached copies of the fields tests look at)."""
    with application.app_context():
        rows = db.session.execute(select(OutboxMessage).order_by(OutboxMessage.created_at)).scalars().all()
        result = [
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "attempts": r.attempts,
                "last_error": r.last_error,
                "next_attempt_at": r.next_attempt_at,
                "recipient": r.recipient,
                "body_text": r.body_text,
            }
            for r in rows
        ]
        db.session.remove()
    return result


def test_contact_enquiry_is_stored_and_mailed_with_reply_to_the_sender(mail_app, mail_client, smtp_sink):
    resp = mail_client.post(CONTACT, json=enquiry())
    body = assert_envelope(resp, 202)
    assert body["data"]["enquiry"]["type"] == "sales"

    (received,) = smtp_sink.wait_for(1)
    assert received.rcpt_tos == ["info@secuird.tech"]
    assert received.message["To"] == "info@secuird.tech"
    assert received.message["Reply-To"] == "grace@navy.example"
    assert received.message["Subject"] == "[sales] Contact enquiry from Grace Hopper (Navy)"
    assert "We would like 500 seats.\nCan we talk next week?" in received.text
    assert "+1 (555) 010-0199" in received.text
    assert "Grace Hopper" in received.html

    with mail_app.app_context():
        stored = db.session.execute(select(ContactEnquiry)).scalar_one()
        assert str(stored.id) == body["data"]["enquiry"]["id"]
        assert stored.email == "grace@navy.example" and stored.ip == "127.0.0.1"
        assert stored.request_id == body["request_id"]
        message = db.session.get(OutboxMessage, stored.outbox_message_id)
        mail.get_dispatcher(mail_app).wait()
        db.session.refresh(message)
        assert message.status is OutboxStatus.SENT and message.attempts == 1 and message.sent_at
        # Contact mail carries no token: it is kept, not redacted.
        assert "500 seats" in message.body_text


def test_contact_goes_to_the_configured_recipient(app, smtp_sink):
    application = make_mail_app(smtp_sink.port, CONTACT_RECIPIENT="sales@corp.example")
    try:
        assert_envelope(application.test_client().post(CONTACT, json=enquiry(company=None)), 202)
        (received,) = smtp_sink.wait_for(1)
        assert received.rcpt_tos == ["sales@corp.example"]
        assert received.message["Subject"] == "[sales] Contact enquiry from Grace Hopper"
    finally:
        close_mail_app(application)


def test_contact_html_part_escapes_markup_from_the_form(mail_client, smtp_sink):
    payload = enquiry(message="<script>alert(1)</script> & <b>bold</b>")
    assert_envelope(mail_client.post(CONTACT, json=payload), 202)
    (received,) = smtp_sink.wait_for(1)
    assert "<script>" not in received.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in received.html
    assert "<script>alert(1)</script> & <b>bold</b>" in received.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "spam"}, "type"),
        ({"type": None}, "type"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"email": 42}, "email"),
        ({"message": ""}, "message"),
        ({"message": "x" * 5001}, "message"),
        ({"message": "bidi \u202e override"}, "message"),
        ({"phone": "call me maybe!"}, "phone"),
        ({"company": ["a"]}, "company"),
        ({"priority": "urgent"}, "priority"),
    ],
)
def test_contact_rejects_bad_input_and_stores_nothing(client, app, change, field):
    resp = client.post(CONTACT, json=enquiry(**change))
    body = assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert field in body["error"]["details"]
    with app.app_context():
        assert db.session.execute(select(ContactEnquiry)).first() is None
        assert db.session.execute(select(OutboxMessage)).first() is None


@pytest.mark.parametrize("missing", ["type", "name", "email", "message"])
def test_contact_requires_its_fields(client, missing):
    payload = enquiry()
    del payload[missing]
    body = assert_envelope(client.post(CONTACT, json=payload), 422, "VALIDATION_ERROR")
    assert missing in body["error"]["details"]


def test_contact_optional_fields_may_be_omitted(client):
    payload = enquiry()
    del payload["company"], payload["phone"]
    assert_envelope(client.post(CONTACT, json=payload), 202)


def test_contact_malformed_json_is_400_and_wrong_media_type_415(client):
    assert_envelope(client.post(CONTACT, data="{", content_type="application/json"), 400, "BAD_REQUEST")
    assert_envelope(client.post(CONTACT, data="a=b"), 415, "UNSUPPORTED_MEDIA_TYPE")


def test_contact_sixth_request_within_an_hour_is_rate_limited(app):
    application = create_app("testing", {"RATELIMIT_ENABLED": True})
    try:
        c = application.test_client()
        for _ in range(5):
            assert_envelope(c.post(CONTACT, json=enquiry()), 202)
        resp = c.post(CONTACT, json=enquiry())
        assert_envelope(resp, 429, "RATE_LIMIT_EXCEEDED")
        assert 0 < int(resp.headers["Retry-After"]) <= 3600
        # Another client address has its own budget.
        other = c.post(CONTACT, json=enquiry(), environ_base={"REMOTE_ADDR": "192.0.2.7"})
        assert_envelope(other, 202)
    finally:
        close_mail_app(application)


def test_contact_answers_202_when_smtp_is_down_and_send_pending_delivers_later(app):
    sink = SmtpSink()  # not started: connections to its port are refused
    application = make_mail_app(sink.port)
    try:
        assert_envelope(application.test_client().post(CONTACT, json=enquiry()), 202)
        assert mail.get_dispatcher(application).wait()
        (row,) = outbox_rows(application)
        assert row["status"] is OutboxStatus.PENDING and row["attempts"] == 1
        assert "ConnectionRefusedError" in row["last_error"]
        assert row["next_attempt_at"] > utcnow() + timedelta(seconds=20)  # backoff: 30 s

        runner = application.test_cli_runner()
        # Nothing is due yet: the worker honours the backoff.
        result = runner.invoke(args=["mail", "send-pending"])
        assert result.exit_code == 0 and "0 sent" in result.output
        sink.start()
        result = runner.invoke(args=["mail", "send-pending", "--ignore-schedule"])
        assert result.exit_code == 0, result.output
        assert "1 sent" in result.output
        (received,) = sink.wait_for(1)
        assert received.message["Reply-To"] == "grace@navy.example"
        (row,) = outbox_rows(application)
        assert row["status"] is OutboxStatus.SENT and row["attempts"] == 2 and row["last_error"] is None
    finally:
        sink.stop()
        close_mail_app(application)


def test_due_retry_is_delivered_by_send_pending_once_smtp_is_back(app):
    sink = SmtpSink()
    application = make_mail_app(sink.port)
    try:
        assert_envelope(application.test_client().post(CONTACT, json=enquiry()), 202)
        mail.get_dispatcher(application).wait()
        with application.app_context():
            # Time passes: the retry becomes due.
            db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
            db.session.commit()
        sink.start()
        result = application.test_cli_runner().invoke(args=["mail", "send-pending"])
        assert "1 sent" in result.output
        assert len(sink.wait_for(1)) == 1
    finally:
        sink.stop()
        close_mail_app(application)


def test_recipient_refused_with_550_marks_the_message_failed_but_answers_202(app, smtp_sink):
    smtp_sink.reject.add("info@secuird.tech")
    application = make_mail_app(smtp_sink.port)
    try:
        assert_envelope(application.test_client().post(CONTACT, json=enquiry()), 202)
        mail.get_dispatcher(application).wait()
        (row,) = outbox_rows(application)
        # A permanent refusal is not retried, but the row (and the enquiry) are kept.
        assert row["status"] is OutboxStatus.FAILED and row["attempts"] == 1
        assert "550" in row["last_error"] and "Mailbox unavailable" in row["last_error"]
        assert smtp_sink.messages == []
        # After the address is fixed on the server side, an operator can requeue it.
        smtp_sink.reject.clear()
        runner = application.test_cli_runner()
        assert "1 failed message(s) requeued" in runner.invoke(args=["mail", "requeue-failed"]).output
        assert "1 sent" in runner.invoke(args=["mail", "send-pending"]).output
        assert len(smtp_sink.wait_for(1)) == 1
    finally:
        close_mail_app(application)


def test_transient_failures_back_off_exponentially_then_give_up(app):
    sink = SmtpSink()
    application = make_mail_app(sink.port, MAIL_MAX_ATTEMPTS=3, MAIL_DELIVER_IMMEDIATELY=False)
    try:
        assert_envelope(application.test_client().post(CONTACT, json=enquiry()), 202)
        (row,) = outbox_rows(application)
        assert row["attempts"] == 0 and row["status"] is OutboxStatus.PENDING  # nobody tried yet
        runner = application.test_cli_runner()
        delays = []
        for _ in range(3):
            before = utcnow()
            runner.invoke(args=["mail", "send-pending", "--ignore-schedule"])
            (row,) = outbox_rows(application)
            delays.append(round((row["next_attempt_at"] - before).total_seconds()))
        assert row["status"] is OutboxStatus.FAILED and row["attempts"] == 3
        assert delays[:2] == [30, 60]
        result = runner.invoke(args=["mail", "status"])
        assert "failed=1" in result.output and "pending=0" in result.output
    finally:
        close_mail_app(application)


def test_concurrent_workers_deliver_each_message_exactly_once(app, smtp_sink):
    application = make_mail_app(smtp_sink.port, MAIL_DELIVER_IMMEDIATELY=False)
    try:
        c = application.test_client()
        for i in range(24):
            assert_envelope(c.post(CONTACT, json=enquiry(name=f"Visitor {i}")), 202)
        results = []

        def worker():
            with application.app_context():
                results.append(mail.run_delivery(limit=100))
                db.session.remove()

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        received = smtp_sink.wait_for(24)
        time.sleep(0.2)
        ids = [m.message["Message-ID"] for m in smtp_sink.messages]
        assert len(ids) == 24 and len(set(ids)) == 24
        assert sum(r.sent for r in results) == 24
        assert {m.message["Subject"] for m in received} == {
            f"[sales] Contact enquiry from Visitor {i} (Navy)" for i in range(24)
        }
    finally:
        close_mail_app(application)


def test_mail_worker_loop_delivers_and_stops_cleanly_on_sigterm(app, smtp_sink):
    application = make_mail_app(smtp_sink.port, MAIL_DELIVER_IMMEDIATELY=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(FLASK_ENV="testing", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_sink.port))
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "mail", "send-pending", "--loop", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert_envelope(application.test_client().post(CONTACT, json=enquiry()), 202)
        (received,) = smtp_sink.wait_for(1, timeout=30)
        assert received.message["Reply-To"] == "grace@navy.example"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        close_mail_app(application)
    assert proc.returncode == 0, err[-2000:]
    assert "mail worker: delivering every 0.2s" in out and "1 sent" in out


def test_production_without_smtp_host_holds_mail_in_the_outbox(app):
    application = create_app("testing", {"ENV_NAME": "production"})
    try:
        assert mail.transport_name(application.config) == "hold"
        assert_envelope(application.test_client().post(CONTACT, json=enquiry()), 202)
        mail.get_dispatcher(application).wait()
        (row,) = outbox_rows(application)
        assert row["status"] is OutboxStatus.PENDING and row["attempts"] == 0
        result = application.test_cli_runner().invoke(args=["mail", "send-pending"])
        assert result.exit_code == 2 and "SMTP_HOST is not set" in result.output
    finally:
        close_mail_app(application)

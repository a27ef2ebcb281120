"""Email verification and password reset through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import create_app
from app.extensions import db
from app.models.audit import AuditLog
from app.models.base import utcnow
from app.models.mail import OutboxMessage, OutboxStatus
from app.models.token import OneTimeToken, TokenPurpose
from app.models.user import User
from app.security.tokens import sha256_hex
from app.services import mail
from tests.conftest import close_mail_app
from tests.helpers import DEFAULT_PASSWORD, AuthActions, assert_envelope

AUTH = "/api/v1/auth"
NEW_PASSWORD = "Fresh-Start-2027"


@pytest.fixture
def mail_auth(mail_client):
    """AuthActions on the SMTP-delivering app."""
    return AuthActions(mail_client)


def verification_mail(sink, address, count=1):
    """Wait for `count` mails to `address` and return the last one."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = sink.to(address)
        if len(found) >= count:
            return found[-1]
        time.sleep(0.02)
    raise AssertionError(f"no mail #{count} to {address}: {[m.rcpt_tos for m in sink.messages]}")


def drain(application):
    """Wait until the app's dispatcher has tried everything committed so far."""
    assert mail.get_dispatcher(application).wait()


# --- email verification ----------------------------------------------------------------------


def test_registration_mails_a_single_use_verification_link(mail_app, mail_client, mail_auth, smtp_sink):
    user = mail_auth.register(email="ada@example.com", name="Ada")
    received = verification_mail(smtp_sink, "ada@example.com")
    assert received.message["To"] == "ada@example.com"
    assert received.message["Subject"] == "Confirm your email address"
    assert received.message["Reply-To"] is None
    token = received.token()
    assert f"http://localhost:3000/verify-email?token={token}" in received.text
    assert f'href="http://localhost:3000/verify-email?token={token}"' in received.html
    assert "Hello Ada" in received.text and "48 hours" in received.text

    body = assert_envelope(mail_client.post(f"{AUTH}/verify-email", json={"token": token}), 200)
    assert body["data"] == {"email_verified": True}
    session = mail_auth.login(user["email"])
    me = assert_envelope(mail_client.get(f"{AUTH}/me", headers=session["headers"]), 200)
    assert me["data"]["user"]["email_verified"] is True

    again = mail_client.post(f"{AUTH}/verify-email", json={"token": token})
    body = assert_envelope(again, 422, "VALIDATION_ERROR")
    assert body["error"]["details"]["token"] == [
        "This link has already been used. Request a new one if you still need it."
    ]
    with mail_app.app_context():
        actions = db.session.execute(select(AuditLog.action).order_by(AuditLog.id)).scalars().all()
        assert "user.email_verified" in actions


def test_tokens_are_stored_hashed_and_mail_bodies_redacted_after_delivery(mail_app, mail_auth, smtp_sink):
    mail_auth.register(email="hash@example.com")
    token = verification_mail(smtp_sink, "hash@example.com").token()
    drain(mail_app)
    with mail_app.app_context():
        row = db.session.execute(select(OneTimeToken)).scalar_one()
        assert row.token_hash == sha256_hex(token) and token not in row.token_hash
        assert row.purpose is TokenPurpose.VERIFY_EMAIL and row.email == "hash@example.com"
        assert row.expires_at - row.created_at == timedelta(hours=48)
        message = db.session.execute(select(OutboxMessage)).scalar_one()
        assert message.status is OutboxStatus.SENT
        assert token not in message.body_text and message.body_html is None


def test_expired_verification_link_is_refused(mail_app, mail_client, mail_auth, smtp_sink):
    mail_auth.register(email="late@example.com")
    token = verification_mail(smtp_sink, "late@example.com").token()
    with mail_app.app_context():
        db.session.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    body = assert_envelope(mail_client.post(f"{AUTH}/verify-email", json={"token": token}), 422)
    assert body["message"] == "This link has expired. Request a new one."
    with mail_app.app_context():
        assert db.session.execute(select(User.email_verified)).scalar_one() is False


@pytest.mark.parametrize(
    "payload",
    [
        {"token": "not-a-real-token"},
        {"token": ""},
        {"token": "a" * 300},
        {"token": "abc\x00def"},
        {"token": 12345},
        {"token": None},
        {},
        {"token": "x", "email": "someone@example.com"},
    ],
)
def test_verify_email_bad_tokens_are_clear_422s(client, payload):
    body = assert_envelope(client.post(f"{AUTH}/verify-email", json=payload), 422, "VALIDATION_ERROR")
    assert body["error"]["details"]


def test_resend_verification_replaces_the_previous_link(mail_client, mail_auth, smtp_sink):
    user = mail_auth.register(email="again@example.com")
    first = verification_mail(smtp_sink, "again@example.com").token()
    session = mail_auth.login(user["email"])
    resp = mail_client.post(f"{AUTH}/verify-email/resend", headers=session["headers"])
    assert_envelope(resp, 202)
    second = verification_mail(smtp_sink, "again@example.com", count=2).token()
    assert first != second
    old = assert_envelope(mail_client.post(f"{AUTH}/verify-email", json={"token": first}), 422)
    assert old["message"] == "This link is invalid. Request a new one."
    assert_envelope(mail_client.post(f"{AUTH}/verify-email", json={"token": second}), 200)
    done = mail_client.post(f"{AUTH}/verify-email/resend", headers=session["headers"])
    assert_envelope(done, 409, "CONFLICT")


def test_resend_verification_requires_authentication(client):
    assert_envelope(client.post(f"{AUTH}/verify-email/resend"), 401, "AUTHENTICATION_ERROR")


def test_resend_verification_is_rate_limited(app):
    application = create_app(
        "testing", {"RATELIMIT_ENABLED": True, "RATELIMIT_VERIFY_EMAIL_RESEND": "2 per hour"}
    )
    try:
        c = application.test_client()
        actions = AuthActions(c)
        session = actions.login(actions.register()["email"])
        for _ in range(2):
            assert_envelope(c.post(f"{AUTH}/verify-email/resend", headers=session["headers"]), 202)
        resp = c.post(f"{AUTH}/verify-email/resend", headers=session["headers"])
        assert_envelope(resp, 429, "RATE_LIMIT_EXCEEDED")
        assert int(resp.headers["Retry-After"]) > 0
    finally:
        close_mail_app(application)


def test_email_change_mails_a_link_to_the_new_address_and_a_notice_to_the_old(
    mail_client, mail_auth, smtp_sink
):
    user = mail_auth.register(email="old@example.com")
    registration_token = verification_mail(smtp_sink, "old@example.com").token()
    session = mail_auth.login(user["email"])
    resp = mail_client.patch(
        "/api/v1/users/me",
        json={"email": "new@example.com", "current_password": DEFAULT_PASSWORD},
        headers=session["headers"],
    )
    assert assert_envelope(resp, 200)["data"]["user"]["email_verified"] is False

    link_mail = verification_mail(smtp_sink, "new@example.com")
    assert link_mail.message["Subject"] == "Confirm your email address"
    notice = verification_mail(smtp_sink, "old@example.com", count=2)
    assert notice.message["Subject"] == "Your email address was changed"
    assert "n***@example.com" in notice.text and "token=" not in notice.text

    # The link mailed to the old address must not verify the new one.
    stale = mail_client.post(f"{AUTH}/verify-email", json={"token": registration_token})
    assert_envelope(stale, 422, "VALIDATION_ERROR")
    assert_envelope(mail_client.post(f"{AUTH}/verify-email", json={"token": link_mail.token()}), 200)
    me = assert_envelope(mail_client.get(f"{AUTH}/me", headers=session["headers"]), 200)
    assert me["data"]["user"]["email"] == "new@example.com" and me["data"]["user"]["email_verified"]


# --- password reset --------------------------------------------------------------------------


def forgot(c, email):
    """POST /auth/password/forgot."""
    return c.post(f"{AUTH}/password/forgot", json={"email": email})


def test_forgot_password_mails_a_reset_link_to_the_stored_address(mail_client, mail_auth, smtp_sink):
    mail_auth.register(email="Mixed.Case@example.com")
    verification_mail(smtp_sink, "Mixed.Case@example.com")
    assert_envelope(forgot(mail_client, "MIXED.CASE@EXAMPLE.COM"), 202)
    received = verification_mail(smtp_sink, "Mixed.Case@example.com", count=2)
    # Delivered to the address on the account, never the spelling typed into the form.
    assert received.rcpt_tos == ["Mixed.Case@example.com"]
    assert received.message["To"] == "Mixed.Case@example.com"
    assert received.message["Subject"] == "Reset your password"
    token = received.token()
    assert f"http://localhost:3000/reset-password?token={token}" in received.text
    assert "30 minutes" in received.text


def test_forgot_password_answers_identically_for_unknown_addresses(
    mail_app, mail_client, mail_auth, smtp_sink
):
    mail_auth.register(email="known@example.com")
    verification_mail(smtp_sink, "known@example.com")
    # A slow SMTP server: if mail were sent on the request path, known addresses would answer slower.
    smtp_sink.delay = 0.3

    def call(email):
        start = time.perf_counter()
        resp = forgot(mail_client, email)
        elapsed = time.perf_counter() - start
        body = resp.get_json()
        body.pop("request_id")
        return resp.status_code, body, elapsed

    known = [call("known@example.com") for _ in range(8)]
    unknown = [call(f"nobody{i}@example.com") for i in range(8)]
    assert {(s, str(b)) for s, b, _ in known} == {(s, str(b)) for s, b, _ in unknown}
    assert known[0][0] == 202 and known[0][1]["data"] == {}
    # No SMTP work happens on the request path, so the timings are close.
    known_median = statistics.median(t for *_, t in known)
    unknown_median = statistics.median(t for *_, t in unknown)
    assert abs(known_median - unknown_median) < 0.1, (known_median, unknown_median)
    assert known_median < smtp_sink.delay, known_median
    drain(mail_app)
    assert all("nobody" not in r for m in smtp_sink.messages for r in m.rcpt_tos)
    assert len(smtp_sink.to("known@example.com")) == 1 + 8


def test_forgot_password_with_a_unicode_lookalike_mails_nobody(mail_app, mail_client, mail_auth, smtp_sink):
    mail_auth.register(email="mike@example.com")
    verification_mail(smtp_sink, "mike@example.com")
    # Dotless i: 'mıke'.upper() == 'MIKE', a classic case-mapping collision. Non-ASCII local
    # parts are refused outright (README "Input"), so the lookalike cannot even be asked for.
    assert_envelope(forgot(mail_client, "m\u0131ke@example.com"), 422, "VALIDATION_ERROR")
    drain(mail_app)
    assert len(smtp_sink.messages) == 1
    assert [m.message["Subject"] for m in smtp_sink.messages] == ["Confirm your email address"]


def test_forgot_password_validates_the_address(client):
    assert_envelope(forgot(client, "not an email"), 422, "VALIDATION_ERROR")
    assert_envelope(client.post(f"{AUTH}/password/forgot", json={}), 422, "VALIDATION_ERROR")


def test_forgot_password_for_a_deactivated_account_mails_nothing(mail_app, mail_client, mail_auth, smtp_sink):
    user = mail_auth.register(email="gone@example.com")
    verification_mail(smtp_sink, "gone@example.com")
    with mail_app.app_context():
        db.session.execute(update(User).where(User.id == uuid.UUID(user["id"])).values(is_active=False))
        db.session.commit()
    assert_envelope(forgot(mail_client, "gone@example.com"), 202)
    drain(mail_app)
    assert len(smtp_sink.messages) == 1


def reset_token_for(c, sink, email, count):
    """Ask for a reset and return the token from the `count`-th mail to `email`."""
    assert_envelope(forgot(c, email), 202)
    return verification_mail(sink, email, count=count).token()


def test_reset_password_sets_it_revokes_every_session_and_is_audited(
    mail_app, mail_client, mail_auth, smtp_sink
):
    user = mail_auth.register(email="reset@example.com")
    verification_mail(smtp_sink, "reset@example.com")
    first = mail_auth.login(user["email"])
    second = AuthActions(mail_app.test_client()).login(user["email"])
    token = reset_token_for(mail_client, smtp_sink, "reset@example.com", 2)

    resp = mail_client.post(f"{AUTH}/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    body = assert_envelope(resp, 200)
    assert body["data"] == {"sessions_revoked": 2}
    assert token not in resp.get_data(as_text=True)
    for session in (first, second):
        assert_envelope(mail_client.get(f"{AUTH}/me", headers=session["headers"]), 401)
    bad = mail_client.post(f"{AUTH}/login", json={"email": user["email"], "password": DEFAULT_PASSWORD})
    assert_envelope(bad, 401)
    fresh = mail_auth.login(user["email"], NEW_PASSWORD)
    me = assert_envelope(mail_client.get(f"{AUTH}/me", headers=fresh["headers"]), 200)
    assert me["data"]["user"]["email_verified"] is True  # the link proved the address

    with mail_app.app_context():
        row = db.session.execute(
            select(AuditLog).where(AuditLog.action == "user.password_reset")
        ).scalar_one()
        assert str(row.actor_user_id) == user["id"] and row.details == {"sessions_revoked": 2}
        requested = db.session.execute(
            select(AuditLog).where(AuditLog.action == "auth.password_reset.requested")
        ).scalar_one()
        assert requested.target_id == user["id"]
        dumped = " ".join(str(r.details) for r in db.session.execute(select(AuditLog)).scalars())
        assert token not in dumped and NEW_PASSWORD not in dumped


def test_reset_token_cannot_be_used_twice(mail_client, mail_auth, smtp_sink):
    mail_auth.register(email="twice@example.com")
    token = reset_token_for(mail_client, smtp_sink, "twice@example.com", 2)
    ok = mail_client.post(f"{AUTH}/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert_envelope(ok, 200)
    again = mail_client.post(
        f"{AUTH}/password/reset", json={"token": token, "new_password": "Another-Pass-2028"}
    )
    body = assert_envelope(again, 422, "VALIDATION_ERROR")
    assert body["message"].startswith("This link has already been used")
    mail_auth.login("twice@example.com", NEW_PASSWORD)


def test_expired_reset_token_is_refused(mail_app, mail_client, mail_auth, smtp_sink):
    mail_auth.register(email="slow@example.com")
    token = reset_token_for(mail_client, smtp_sink, "slow@example.com", 2)
    with mail_app.app_context():
        row = db.session.execute(
            select(OneTimeToken).where(OneTimeToken.purpose == TokenPurpose.PASSWORD_RESET)
        ).scalar_one()
        assert row.expires_at - row.created_at == timedelta(minutes=30)
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    resp = mail_client.post(f"{AUTH}/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    body = assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert body["error"]["details"] == {"token": ["This link has expired. Request a new one."]}
    mail_auth.login("slow@example.com", DEFAULT_PASSWORD)


def test_a_new_reset_request_invalidates_the_older_link(mail_client, mail_auth, smtp_sink):
    mail_auth.register(email="newer@example.com")
    older = reset_token_for(mail_client, smtp_sink, "newer@example.com", 2)
    newer = reset_token_for(mail_client, smtp_sink, "newer@example.com", 3)
    stale = mail_client.post(f"{AUTH}/password/reset", json={"token": older, "new_password": NEW_PASSWORD})
    assert_envelope(stale, 422, "VALIDATION_ERROR")
    fresh = mail_client.post(f"{AUTH}/password/reset", json={"token": newer, "new_password": NEW_PASSWORD})
    assert_envelope(fresh, 200)


def test_weak_new_password_is_refused_without_spending_the_token(mail_client, mail_auth, smtp_sink):
    mail_auth.register(email="weak@example.com")
    token = reset_token_for(mail_client, smtp_sink, "weak@example.com", 2)
    weak = mail_client.post(f"{AUTH}/password/reset", json={"token": token, "new_password": "password1"})
    body = assert_envelope(weak, 422, "VALIDATION_ERROR")
    assert "new_password" in body["error"]["details"]
    too_long = mail_client.post(f"{AUTH}/password/reset", json={"token": token, "new_password": "é" * 40})
    assert "new_password" in assert_envelope(too_long, 422)["error"]["details"]
    ok = mail_client.post(f"{AUTH}/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert_envelope(ok, 200)


def test_a_verification_token_cannot_reset_a_password(mail_client, mail_auth, smtp_sink):
    mail_auth.register(email="purpose@example.com")
    verify_token = verification_mail(smtp_sink, "purpose@example.com").token()
    resp = mail_client.post(
        f"{AUTH}/password/reset", json={"token": verify_token, "new_password": NEW_PASSWORD}
    )
    assert_envelope(resp, 422, "VALIDATION_ERROR")
    mail_auth.login("purpose@example.com", DEFAULT_PASSWORD)


def test_reset_link_dies_when_the_account_address_changes(mail_client, mail_auth, smtp_sink):
    user = mail_auth.register(email="moving@example.com")
    token = reset_token_for(mail_client, smtp_sink, "moving@example.com", 2)
    session = mail_auth.login(user["email"])
    assert_envelope(
        mail_client.patch(
            "/api/v1/users/me",
            json={"email": "moved@example.com", "current_password": DEFAULT_PASSWORD},
            headers=session["headers"],
        ),
        200,
    )
    resp = mail_client.post(f"{AUTH}/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert_envelope(resp, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "payload",
    [
        {"token": "nope", "new_password": NEW_PASSWORD},
        {"token": "nope"},
        {"new_password": NEW_PASSWORD},
        {"token": ["x"], "new_password": NEW_PASSWORD},
        {"token": "nope", "new_password": NEW_PASSWORD, "email": "x@example.com"},
    ],
)
def test_reset_password_bad_input_is_a_clear_422(client, payload):
    assert_envelope(client.post(f"{AUTH}/password/reset", json=payload), 422, "VALIDATION_ERROR")


def test_forgot_password_is_rate_limited_per_ip(app):
    application = create_app(
        "testing", {"RATELIMIT_ENABLED": True, "RATELIMIT_PASSWORD_FORGOT": "3 per hour"}
    )
    try:
        c = application.test_client()
        for i in range(3):
            assert_envelope(forgot(c, f"x{i}@example.com"), 202)
        assert_envelope(forgot(c, "x9@example.com"), 429, "RATE_LIMIT_EXCEEDED")
    finally:
        close_mail_app(application)


def test_the_same_reset_token_used_concurrently_works_only_once(mail_app, mail_client, mail_auth, smtp_sink):
    mail_auth.register(email="race@example.com")
    token = reset_token_for(mail_client, smtp_sink, "race@example.com", 2)
    barrier = threading.Barrier(4)
    results: list[int] = []

    def reset(password: str) -> None:
        c = mail_app.test_client()
        barrier.wait()
        resp = c.post(f"{AUTH}/password/reset", json={"token": token, "new_password": password})
        results.append(resp.status_code)

    passwords = [f"Racing-Pass-{i}0{i}x" for i in range(4)]
    threads = [threading.Thread(target=reset, args=(p,)) for p in passwords]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [200, 422, 422, 422]
    with mail_app.app_context():
        actions = db.session.execute(select(AuditLog.action)).scalars().all()
        assert actions.count("user.password_reset") == 1

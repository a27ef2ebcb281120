"""Account lockout: atomic counters (Redis and SQL), no existence leak, short locks, audit rows."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.models.audit import AuditLog
from app.models.throttle import LoginThrottle
from app.security.lockout import RedisLockoutGate, SqlLockoutGate, get_gate
from tests.helpers import DEFAULT_PASSWORD, AuthActions, assert_envelope

LOGIN = "/api/v1/auth/login"
WRONG = "Wrong-Password-1"


def lockout_app(backend: str, **overrides: Any) -> Flask:
    """A testing app with lockout on (threshold 5) and rate limits off, on Redis or SQL."""
    settings: dict[str, Any] = {"LOCKOUT_ENABLED": True, "LOCKOUT_THRESHOLD": 5, "LOCKOUT_DURATION": 300}
    if backend == "sql":
        settings["REDIS_URL"] = None
    settings.update(overrides)
    return create_app("testing", settings)


def attempt(client, email: str, password: str = WRONG):
    """One login attempt."""
    return client.post(LOGIN, json={"email": email, "password": password})


def audit_actions(application: Flask) -> Counter:
    """How many audit rows of each action exist."""
    with application.app_context():
        rows = db.session.execute(select(AuditLog.action, func.count()).group_by(AuditLog.action)).all()
        db.session.remove()
    return Counter(dict(rows))


@pytest.fixture(params=["redis", "sql"])
def backend(request, app) -> str:
    """Run the test on both lockout backends."""
    return request.param


def test_gate_follows_the_session_backend(app):
    with lockout_app("redis").app_context():
        assert isinstance(get_gate(), RedisLockoutGate)
    with lockout_app("sql").app_context():
        assert isinstance(get_gate(), SqlLockoutGate)


def test_five_failures_lock_the_account_even_for_the_right_password(backend):
    application = lockout_app(backend)
    client = application.test_client()
    user = AuthActions(client).register()
    for _ in range(5):
        assert_envelope(attempt(client, user["email"]), 401, "AUTHENTICATION_ERROR")
    resp = attempt(client, user["email"], DEFAULT_PASSWORD)
    body = assert_envelope(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(resp.headers["Retry-After"]) <= 300
    assert "try again later" in body["message"]
    actions = audit_actions(application)
    assert actions["auth.account_locked"] == 1
    assert actions["auth.login.failed"] == 5
    assert actions["auth.login.succeeded"] == 0
    with application.app_context():
        row = db.session.execute(
            select(AuditLog).where(AuditLog.action == "auth.account_locked")
        ).scalar_one()
        assert row.target_type == "user" and row.target_id == user["id"]
        assert row.details == {
            "failures": 5,
            "window_seconds": 900,
            "locked_seconds": 300,
            "known_account": True,
        }
        assert "Wrong" not in str(row.details)
        db.session.remove()


def test_unknown_email_is_locked_exactly_like_a_real_one(backend):
    application = lockout_app(backend)
    client = application.test_client()
    real = AuthActions(client).register("real@example.com")["email"]

    def run(email: str) -> list[tuple[int, str, str | None]]:
        out = []
        for _ in range(7):
            resp = attempt(client, email)
            out.append((resp.status_code, resp.get_json()["message"], resp.headers.get("Retry-After")))
        return out

    assert run(real) == run("ghost@example.com")
    assert audit_actions(application)["auth.account_locked"] == 2


def test_lock_expires_after_lockout_duration(backend):
    application = lockout_app(backend, LOCKOUT_THRESHOLD=2, LOCKOUT_DURATION=1)
    client = application.test_client()
    user = AuthActions(client).register()
    for _ in range(2):
        assert_envelope(attempt(client, user["email"]), 401)
    assert_envelope(attempt(client, user["email"], DEFAULT_PASSWORD), 429)
    time.sleep(1.2)
    assert_envelope(attempt(client, user["email"], DEFAULT_PASSWORD), 200)


def test_a_success_resets_the_failure_count(backend):
    client = lockout_app(backend).test_client()
    user = AuthActions(client).register()
    for _ in range(4):
        assert_envelope(attempt(client, user["email"]), 401)
    assert_envelope(attempt(client, user["email"], DEFAULT_PASSWORD), 200)
    for _ in range(4):
        assert_envelope(attempt(client, user["email"]), 401)
    assert_envelope(attempt(client, user["email"], DEFAULT_PASSWORD), 200)


def test_spellings_of_one_address_share_the_counter_and_other_accounts_are_unaffected(backend):
    client = lockout_app(backend).test_client()
    auth = AuthActions(client)
    victim = auth.register("victim@example.com")
    bystander = auth.register("bystander@example.com")
    for spelling in ["victim@example.com", "VICTIM@example.com", " Victim@Example.COM", "victim@EXAMPLE.com"]:
        assert_envelope(attempt(client, spelling), 401)
    assert_envelope(attempt(client, "ViCtIm@example.com"), 401)
    assert_envelope(attempt(client, victim["email"], DEFAULT_PASSWORD), 429)
    assert_envelope(attempt(client, bystander["email"], DEFAULT_PASSWORD), 200)


def test_fifty_parallel_wrong_guesses_let_at_most_the_threshold_reach_bcrypt(backend):
    # bcrypt at cost 8 makes each check slow enough that a check-then-increment counter would
    # let most of the 50 through; reserving first must let exactly 5 be verified.
    application = lockout_app(backend, BCRYPT_LOG_ROUNDS=8)
    client = application.test_client()
    user = AuthActions(client).register()
    barrier = threading.Barrier(50)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        own = application.test_client()
        barrier.wait()
        resp = own.post(LOGIN, json={"email": user["email"], "password": f"Guess-number-{n}"})
        with lock:
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(statuses)
    # 401 means the password was checked; 429 means it was refused before bcrypt ran.
    assert counts == Counter({401: 5, 429: 45}), counts
    actions = audit_actions(application)
    assert actions["auth.login.failed"] == 5
    assert actions["auth.account_locked"] == 1
    assert_envelope(attempt(client, user["email"], DEFAULT_PASSWORD), 429)


def test_sql_backend_stores_only_a_keyed_hash_of_the_address(app):
    application = lockout_app("sql")
    client = application.test_client()
    attempt(client, "private.person@example.com")
    with application.app_context():
        keys = db.session.execute(select(LoginThrottle.key)).scalars().all()
        db.session.remove()
    assert len(keys) == 1 and "private" not in keys[0] and len(keys[0]) == 40


def test_lockout_disabled_lets_every_attempt_through(app, client, user):
    for _ in range(8):
        assert_envelope(attempt(client, user["email"]), 401)
    assert_envelope(attempt(client, user["email"], user["password"]), 200)

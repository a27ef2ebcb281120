"""Structured request logs and Prometheus metrics, in process (the gunicorn side is in tests/e2e)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from prometheus_client import REGISTRY

from app import create_app
from app.envelope import success
from app.extensions import limiter
from app.logging_setup import JsonFormatter, RequestIdFilter, safe_path
from tests.conftest import TEST_DATABASE_URL
from tests.e2e.conftest import free_port
from tests.helpers import DEFAULT_PASSWORD, AuthActions, assert_envelope

METRICS_TOKEN = "metrics-token-" + "x" * 30


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """Capture the app.access lines as the JSON formatter writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("app")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def metrics_app(app: Flask) -> Flask:
    """The testing app with /metrics on behind a token, and one rate-limited route."""
    application = create_app(
        "testing",
        {"METRICS_ENABLED": True, "METRICS_TOKEN": METRICS_TOKEN, "RATELIMIT_STORAGE_URI": "memory://"},
    )

    @application.get("/api/_test/limited")
    @limiter.limit("1/minute")
    def limited():  # noqa: ANN202 - a test-only view
        return success({"ok": True})

    return application


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_access_line_has_request_facts_and_user_id_but_no_secrets(client, auth, access_log):
    user = auth.register()
    session = auth.login(user["email"], user["password"])
    resp = client.get(
        f"/api/v1/auth/me?token={session['token']}",
        headers={**session["headers"], "X-Request-ID": "trace-me-1"},
    )
    assert_envelope(resp, 200)
    lines = [line for line in _lines(access_log) if line["logger"] == "app.access"]
    me = next(line for line in lines if line["request_id"] == "trace-me-1")
    assert me["method"] == "GET" and me["path"] == "/api/v1/auth/me" and me["status"] == 200
    assert me["endpoint"] == "auth.me" and me["user_id"] == user["id"]
    assert me["duration_ms"] >= 0
    login = next(line for line in lines if line["path"] == "/api/v1/auth/login")
    assert login["user_id"] is None and login["status"] == 200
    text = access_log.getvalue()
    assert session["token"] not in text and DEFAULT_PASSWORD not in text and "token=" not in text
    assert session["csrf_token"] not in text


def test_access_line_written_for_errors_too(client, access_log):
    resp = client.get("/api/v1/does-not-exist", headers={"X-Request-ID": "trace-404"})
    assert_envelope(resp, 404, "NOT_FOUND")
    line = next(line for line in _lines(access_log) if line["request_id"] == "trace-404")
    assert line["status"] == 404 and line["endpoint"] == "-"


def test_token_like_path_segments_are_redacted_but_uuids_kept():
    token = "A" * 43
    uuid = "6f1c3c1e-8a4b-4c1e-9d3a-2b5c7e9f0a1b"
    assert safe_path(f"/api/v1/auth/reset/{token}") == "/api/v1/auth/reset/<redacted>"
    assert safe_path(f"/api/v1/organizations/{uuid}/members") == f"/api/v1/organizations/{uuid}/members"
    assert safe_path("/api/v1/auth/sessions/Zq3_short-id") == "/api/v1/auth/sessions/Zq3_short-id"


def test_json_formatter_keeps_extra_fields_and_flattens_exceptions():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "app.x", logging.ERROR, __file__, 1, "failed %s", ("once",), sys.exc_info()
        )
    record.request_id = "rid-1"
    record.status = 500
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "failed once" and out["request_id"] == "rid-1" and out["status"] == 500
    assert out["level"] == "ERROR" and "ValueError: boom" in out["exc_info"]
    assert "\n" not in JsonFormatter().format(record)


def test_metrics_endpoint_is_absent_by_default_outside_development(client):
    assert_envelope(client.get("/metrics"), 404, "NOT_FOUND")


def test_metrics_requires_the_bearer_token(metrics_app):
    c = metrics_app.test_client()
    assert_envelope(c.get("/metrics"), 401, "AUTHENTICATION_ERROR")
    assert_envelope(c.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "AUTHENTICATION_ERROR")
    resp = c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    assert b"authy2_http_requests_total" in resp.data and b"authy2_logins_total" in resp.data


def test_metrics_count_requests_logins_and_rate_limits(metrics_app):
    c = metrics_app.test_client()
    auth = AuthActions(c)
    user = auth.register()
    ok_before = _sample("authy2_logins_total", method="password", result="success")
    fail_before = _sample("authy2_logins_total", method="password", result="failure")
    req_before = _sample("authy2_http_requests_total", method="POST", endpoint="auth.login", status="401")
    auth.login(user["email"])
    bad = c.post("/api/v1/auth/login", json={"email": user["email"], "password": "Wrong-Horse-42"})
    assert_envelope(bad, 401, "AUTHENTICATION_ERROR")
    assert _sample("authy2_logins_total", method="password", result="success") == ok_before + 1
    assert _sample("authy2_logins_total", method="password", result="failure") == fail_before + 1
    assert (
        _sample("authy2_http_requests_total", method="POST", endpoint="auth.login", status="401")
        == req_before + 1
    )
    assert _sample(
        "authy2_http_request_duration_seconds_count", method="POST", endpoint="auth.login", status="401"
    )

    limited_before = _sample("authy2_rate_limited_total", endpoint="limited")
    assert_envelope(c.get("/api/_test/limited"), 200)
    resp = c.get("/api/_test/limited")
    assert_envelope(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert _sample("authy2_rate_limited_total", endpoint="limited") == limited_before + 1


def test_redis_outage_is_a_503_counted_as_a_session_store_error(app):
    dead = create_app(
        "testing",
        {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "RATELIMIT_STORAGE_URI": "memory://"},
    )
    before = _sample("authy2_dependency_errors_total", dependency="session_store")
    resp = dead.test_client().get("/api/v1/auth/me", headers={"Authorization": "Bearer " + "a" * 43})
    body = assert_envelope(resp, 503, "SERVICE_UNAVAILABLE")
    assert "redis" not in json.dumps(body).lower()
    assert _sample("authy2_dependency_errors_total", dependency="session_store") == before + 1


def test_metrics_are_open_in_development(app):
    dev = create_app(
        "development",
        {"SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL, "REDIS_URL": None, "METRICS_TOKEN": None},
    )
    assert dev.config["LOG_FORMAT"] == "console"
    resp = dev.test_client().get("/metrics")
    assert resp.status_code == 200 and b"authy2_http_requests_total" in resp.data


def test_every_postgres_connection_carries_the_statement_timeout(app):
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        value = db.session.execute(text("SHOW statement_timeout")).scalar_one()
        db.session.rollback()
    assert value == f"{app.config['DB_STATEMENT_TIMEOUT_MS'] // 1000}s"


def test_access_line_after_account_deletion_names_the_user_and_answers_200(client, auth, access_log):
    user = auth.register()
    session = auth.login(user["email"], user["password"])
    resp = client.delete(
        "/api/v1/users/me",
        json={"password": user["password"]},
        headers={**session["headers"], "X-Request-ID": "trace-delete"},
    )
    assert_envelope(resp, 200)
    line = next(line for line in _lines(access_log) if line["request_id"] == "trace-delete")
    assert line["status"] == 200 and line["user_id"] == user["id"]

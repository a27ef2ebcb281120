"""The envelope on every status, and request-id handling (DESIGN §2)."""

from __future__ import annotations

import logging
import uuid

import pytest
import redis.exceptions
import sqlalchemy.exc
from flask import Flask

from app import create_app
from tests.helpers import UUID_RE, assert_envelope


def test_unknown_api_path_answers_404_envelope(client):
    assert_envelope(client.get("/api/v1/nope"), 404, "NOT_FOUND")


def test_wrong_method_answers_405_envelope_with_allow(client):
    resp = client.put("/api/health")
    assert_envelope(resp, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in resp.headers["Allow"]


def test_body_over_max_content_length_answers_413(client, app):
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    resp = client.post("/api/v1/auth/login", data=big, content_type="application/json")
    assert_envelope(resp, 413, "PAYLOAD_TOO_LARGE")


def test_non_json_content_type_answers_415(client):
    resp = client.post("/api/v1/auth/login", data="email=a", content_type="application/x-www-form-urlencoded")
    assert_envelope(resp, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize(
    "raw",
    ['{"email": ', "[]", '"string"', "null", "", '{"a": NaN}', "\xff\xfe", "[" * 5000 + "]" * 5000],
    ids=["truncated", "array", "string", "null", "empty", "nan", "bad-utf8", "deep"],
)
def test_malformed_json_answers_400_bad_request(client, raw):
    data = raw.encode("latin-1") if raw == "\xff\xfe" else raw
    resp = client.post("/api/v1/auth/login", data=data, content_type="application/json")
    assert_envelope(resp, 400, "BAD_REQUEST")


def test_unknown_field_is_rejected_not_dropped(client):
    resp = client.post(
        "/api/v1/auth/register",
        json={"email": "x@example.com", "password": "Correct-Horse-42", "is_superadmin": True},
    )
    body = assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert body["error"]["details"] == {"is_superadmin": ["Unknown field."]}


def test_request_id_is_taken_from_a_sane_header(client):
    resp = client.get("/api/health", headers={"X-Request-ID": "trace-abc.123_X"})
    body = assert_envelope(resp, 200)
    assert body["request_id"] == "trace-abc.123_X"


@pytest.mark.parametrize("bad", ["has space", "x" * 65, "semi;colon", "<script>", "é"])
def test_request_id_is_replaced_when_not_sane(client, bad):
    resp = client.get("/api/health", headers={"X-Request-ID": bad.encode("utf-8").decode("latin-1")})
    body = assert_envelope(resp, 200)
    assert UUID_RE.match(body["request_id"])


@pytest.fixture(scope="module")
def crashing_app() -> Flask:
    """An app with extra routes that fail in the ways the handlers must map."""
    application = create_app("testing")

    @application.get("/api/test/boom")
    def boom():
        raise RuntimeError("secret-internal-detail SELECT * FROM users")

    @application.get("/api/test/db-down")
    def db_down():
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    @application.get("/api/test/redis-down")
    def redis_down():
        raise redis.exceptions.ConnectionError("Connection refused")

    return application


def test_unexpected_error_answers_500_without_details(crashing_app):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("app").addHandler(handler)
    try:
        resp = crashing_app.test_client().get("/api/test/boom")
    finally:
        logging.getLogger("app").removeHandler(handler)
    body = assert_envelope(resp, 500, "INTERNAL_ERROR")
    text = resp.get_data(as_text=True)
    assert "secret-internal-detail" not in text and "Traceback" not in text and "SELECT" not in text
    assert body["error"]["details"] == {}
    # The traceback is logged, with the request id, for the operator.
    assert any(body["request_id"] in r.getMessage() and r.exc_info for r in records)


@pytest.mark.parametrize("path", ["/api/test/db-down", "/api/test/redis-down"])
def test_dependency_outage_answers_503(crashing_app, path):
    resp = crashing_app.test_client().get(path)
    assert_envelope(resp, 503, "SERVICE_UNAVAILABLE")
    assert "refused" not in resp.get_data(as_text=True)


def test_success_envelope_has_uuid_request_id(client):
    body = assert_envelope(client.get("/api/health"), 200)
    assert uuid.UUID(body["request_id"])
    assert body["data"]["checks"] == {"database": "ok", "session_store": "ok"}


def test_health_names_the_failing_session_store_when_redis_is_down(app):
    broken = create_app("testing", {"REDIS_URL": "redis://127.0.0.1:1/0"})
    body = assert_envelope(broken.test_client().get("/api/health"), 503, "SERVICE_UNAVAILABLE")
    assert body["error"]["details"]["failing"] == ["session_store"]
    assert body["error"]["details"]["checks"]["database"] == "ok"


def test_session_routes_answer_503_when_redis_is_down(app):
    broken = create_app("testing", {"REDIS_URL": "redis://127.0.0.1:1/0"})
    resp = broken.test_client().get("/api/v1/auth/me", headers={"Authorization": "Bearer abc"})
    assert_envelope(resp, 503, "SERVICE_UNAVAILABLE")


def test_security_headers_on_api_responses(client):
    resp = client.get("/api/health")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    "path", ["/api/v1/users/me/consents/a%00b", "/api/v1/auth/sessions/x%01y", "/oauth2/x%00"]
)
def test_control_characters_in_the_path_are_404_not_500(client, logged_in, path):
    assert_envelope(client.delete(path, headers=logged_in["headers"]), 404, "NOT_FOUND")

"""Inputs schemathesis found that broke the contract, kept as regression tests (one per kind)."""

from __future__ import annotations

import pytest

from tests.helpers import assert_envelope


def test_options_request_answers_with_the_envelope_and_allow_header(client):
    # Found: `curl -X OPTIONS /api/health` answered 200 with an empty body (Flask's automatic OPTIONS).
    resp = client.options("/api/health")
    body = assert_envelope(resp, 200)
    assert set(resp.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert body["data"] == {"methods": ["GET", "HEAD", "OPTIONS"]}


def test_options_on_an_authenticated_route_needs_no_credentials(client):
    resp = client.options("/api/v1/users/me")
    body = assert_envelope(resp, 200)
    assert {"GET", "PATCH", "DELETE"} <= set(body["data"]["methods"])


def test_cors_preflight_still_answers_with_its_headers(client, app):
    origin = app.config["CORS_ORIGINS"][0]
    resp = client.options(
        "/api/v1/auth/login",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, X-CSRF-Token",
        },
    )
    assert_envelope(resp, 200)
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]


def test_options_on_an_unknown_api_path_is_an_enveloped_404(client):
    assert_envelope(client.options("/api/v1/nope"), 404, "NOT_FOUND")


# Found: POST /auth/register with a password holding a lone surrogate (JSON "\ud800") was a 500:
# the password policy UTF-8-encodes the password and the encoder raised.
LONE_SURROGATE_BODIES = [
    ("/api/v1/auth/register", '{"email": "gti+c?c}@npfrapmh.info", "password": "Abcdefghij1\\ud800"}'),
    ("/api/v1/auth/login", '{"email": "a@example.com", "password": "\\udfff"}'),
    ("/api/v1/auth/register", '{"email": "x\\ud83d@example.com", "password": "Correct-Horse-42"}'),
    ("/api/v1/auth/register", '{"\\ud800": 1, "email": "a@example.com", "password": "Correct-Horse-42"}'),
]


@pytest.mark.parametrize(("path", "raw"), LONE_SURROGATE_BODIES)
def test_lone_surrogate_in_a_json_body_is_a_400_not_a_500(client, path, raw):
    resp = client.post(path, data=raw, content_type="application/json")
    body = assert_envelope(resp, 400, "BAD_REQUEST")
    assert "surrogate" in body["message"]


def test_lone_surrogate_in_an_authenticated_body_is_a_400(client, logged_in):
    raw = '{"current_password": "\\ud800", "new_password": "Another-Horse-43"}'
    resp = client.post(
        "/api/v1/users/me/password", data=raw, content_type="application/json", headers=logged_in["headers"]
    )
    assert_envelope(resp, 400, "BAD_REQUEST")


def test_a_valid_surrogate_pair_escape_is_still_accepted(client):
    # "\ud83d\ude00" is one emoji written as a pair of escapes: valid JSON and valid Unicode.
    raw = '{"email": "pair@example.com", "password": "Correct-Horse-42\\ud83d\\ude00"}'
    assert_envelope(client.post("/api/v1/auth/register", data=raw, content_type="application/json"), 201)

"""Inputs schemathesis found that broke the contract, kept as regression tests (one per kind)."""

from __future__ import annotations

import pytest

from app.api.openapi_registry import VISIBLE_ASCII
from app.schemas.organizations import SLUG_RE
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


# Found: GET /auth/external/{provider}/callback with `code` and `error` at 2048 characters, and the
# login legs with a long non-ASCII `next` (each character percent-encoded to up to 12 bytes), made
# request lines of 4-18 KB; gunicorn (limit_request_line 4094) answered its own HTML 400 before the
# app ran. The document now bounds these parameters (printable ASCII, maxLength, enum/slug path
# values) so that every documented request line fits, even fully percent-encoded.
GUNICORN_REQUEST_LINE_LIMIT = 4094


def _worst_case_length(schema: dict) -> int:
    """Bytes a documented value can take in a request line, one past its maximum (negative fuzzing)."""
    if "enum" in schema:
        return 3 * max(len(str(value)) for value in schema["enum"])
    if schema.get("format") == "uuid" or schema.get("type") == "integer":
        return 40
    if "maxLength" in schema:
        ascii_only = schema.get("pattern") in {VISIBLE_ASCII, SLUG_RE.pattern}
        return (schema["maxLength"] + 1) * (3 if ascii_only else 12)
    return 64  # short regex- or format-bound values (action, since, until)


def test_documented_request_lines_fit_in_gunicorns_limit(app):
    from app.api.docs import build_spec

    spec = build_spec(app)
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            longest = len(f"{method.upper()}  HTTP/1.1") + len(path)
            for param in operation.get("parameters", []):
                if param["in"] in {"query", "path"} and "schema" in param:
                    longest += len(param["name"]) + 2 + _worst_case_length(param["schema"])
                    checked += 1
            assert longest < GUNICORN_REQUEST_LINE_LIMIT, (method, path, longest)
    assert checked > 20


def test_redirect_legs_document_bounded_ascii_parameters(app):
    from app.api.docs import build_spec

    paths = build_spec(app)["paths"]
    callback = paths["/api/v1/auth/oidc/{org_slug}/callback"]["get"]["parameters"]
    by_name = {param["name"]: param["schema"] for param in callback}
    assert by_name["code"] == {"type": "string", "maxLength": 960, "pattern": VISIBLE_ASCII}
    assert by_name["org_slug"]["maxLength"] == 63
    login = paths["/api/v1/auth/external/{provider}/login"]["get"]["parameters"]
    assert {p["name"]: p["schema"] for p in login}["provider"]["enum"] == ["google", "github", "microsoft"]

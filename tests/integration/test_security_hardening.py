"""Security headers on every status, HSTS and cookie flags by environment, session fixation,
sessions not bound to IP, CSRF, CORS origin validation and the confusable-email policy."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask

from app import create_app
from app.config import ConfigError
from app.extensions import db
from app.models.user import User
from app.security.cors import allowed_origins
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.helpers import DEFAULT_PASSWORD, AuthActions, assert_envelope

REQUIRED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@pytest.fixture(scope="module")
def crashing_app() -> Flask:
    """The testing app plus a route that raises."""
    application = create_app("testing")

    @application.get("/api/test/crash")
    def crash():
        raise RuntimeError("boom")

    return application


@pytest.fixture
def production_app(app, monkeypatch) -> Flask:
    """A production app on the test database and Redis (cheap bcrypt)."""
    monkeypatch.setenv("SECRET_KEY", "p" * 48)
    monkeypatch.setenv("ENCRYPTION_KEY", "e" * 48)
    monkeypatch.setenv("DATABASE_URL", TEST_DATABASE_URL)
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("BCRYPT_LOG_ROUNDS", "4")
    return create_app("production")


def assert_security_headers(resp, *, hsts: bool) -> None:
    """The headers every response must carry."""
    for name, value in REQUIRED_HEADERS.items():
        assert resp.headers.get(name) == value, (name, resp.status_code)
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert ("Strict-Transport-Security" in resp.headers) is hsts
    assert resp.headers["Server"] == "authy2"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/api/health", {}, 200),
        ("get", "/api/v1/nope", {}, 404),
        ("get", "/not-api-at-all", {}, 404),
        ("put", "/api/health", {}, 405),
        (
            "post",
            "/api/v1/auth/login",
            {"data": "x" * (2 * 1024 * 1024), "content_type": "application/json"},
            413,
        ),
        ("post", "/api/v1/auth/login", {"data": "a=b", "content_type": "text/plain"}, 415),
        ("get", "/api/v1/auth/me", {}, 401),
        ("get", "/api/test/crash", {}, 500),
    ],
)
def test_security_headers_on_every_status(crashing_app, method, path, kwargs, status):
    resp = getattr(crashing_app.test_client(), method)(path, **kwargs)
    assert resp.status_code == status
    assert_security_headers(resp, hsts=False)
    if path.startswith("/api/"):
        assert resp.headers["Cache-Control"] == "no-store"


def test_rate_limited_response_carries_security_headers(app):
    client = create_app(
        "testing", {"RATELIMIT_ENABLED": True, "RATELIMIT_LOGIN_IP": "1 per minute"}
    ).test_client()
    client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "x"})
    resp = client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "x"})
    assert resp.status_code == 429
    assert_security_headers(resp, hsts=False)


def test_hsts_only_in_production(production_app, client):
    assert_security_headers(production_app.test_client().get("/api/health"), hsts=True)
    assert_security_headers(production_app.test_client().get("/api/v1/missing"), hsts=True)
    assert "Strict-Transport-Security" not in client.get("/api/health").headers
    dev = create_app("development", {"SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL})
    assert "Strict-Transport-Security" not in dev.test_client().get("/api/v1/missing").headers


def test_passwords_are_stored_as_bcrypt_with_cost_12_in_production(production_app, monkeypatch):
    monkeypatch.delenv("BCRYPT_LOG_ROUNDS")
    application = create_app("production")
    assert application.config["BCRYPT_LOG_ROUNDS"] == 12
    client = application.test_client()
    user = AuthActions(client).register()
    with application.app_context():
        stored = db.session.get(User, uuid.UUID(user["id"])).password_hash
        db.session.remove()
    assert stored.startswith("$2b$12$") and DEFAULT_PASSWORD not in stored


def test_unknown_rate_limit_strategy_refuses_to_start(app):
    with pytest.raises(ConfigError, match="RATELIMIT_STRATEGY"):
        create_app("testing", {"RATELIMIT_STRATEGY": "leaky-bucket"})


def test_production_login_cookies_are_secure_httponly_samesite(production_app):
    client = production_app.test_client()
    user = AuthActions(client).register()
    resp = client.post("/api/v1/auth/login", json={"email": user["email"], "password": user["password"]})
    assert_envelope(resp, 200)
    cookies = {c.split("=", 1)[0]: c for c in resp.headers.getlist("Set-Cookie")}
    session_cookie = cookies["authy2_session"]
    csrf_cookie = cookies["csrf_token"]
    for cookie in (session_cookie, csrf_cookie):
        assert "; Secure" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "HttpOnly" in session_cookie
    assert "HttpOnly" not in csrf_cookie  # the SPA must read it to echo it


def test_testing_cookies_are_not_secure_so_plain_http_works(client, user):
    resp = client.post("/api/v1/auth/login", json={"email": user["email"], "password": user["password"]})
    session_cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("authy2_session="))
    assert "Secure" not in session_cookie and "HttpOnly" in session_cookie


def test_login_never_adopts_a_planted_session_cookie(client, user):
    planted = "attacker-chosen-token-value"
    client.set_cookie("authy2_session", planted)
    resp = client.post("/api/v1/auth/login", json={"email": user["email"], "password": user["password"]})
    body = assert_envelope(resp, 200)
    token = body["data"]["session"]["token"]
    assert token != planted and len(token) >= 43
    assert client.get_cookie("authy2_session").value == token
    assert_envelope(
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {planted}"}),
        401,
        "AUTHENTICATION_ERROR",
    )


def test_every_login_issues_a_new_token_and_session_id(client, auth, user):
    first = auth.login(user["email"])
    second = auth.login(user["email"])
    assert first["token"] != second["token"]
    assert first["session_id"] != second["session_id"]
    assert first["csrf_token"] != second["csrf_token"]


def test_sessions_are_not_bound_to_ip_or_user_agent_but_record_both(client, auth, user):
    session = auth.login(
        user["email"], environ_base={"REMOTE_ADDR": "192.0.2.10"}, headers={"User-Agent": "Phone/1"}
    )
    # The same token from a new network (mobile roaming) and another user agent still works.
    resp = client.get(
        "/api/v1/auth/sessions",
        headers={**session["headers"], "User-Agent": "Phone/2"},
        environ_base={"REMOTE_ADDR": "198.51.100.20"},
    )
    body = assert_envelope(resp, 200)
    listed = body["data"]["sessions"][0]
    assert listed["ip"] == "192.0.2.10" and listed["user_agent"] == "Phone/1"


def test_cookie_auth_needs_the_session_bound_csrf_token(client, auth, user):
    other = AuthActions(client.application.test_client())
    other_user = other.register()
    foreign_csrf = other.login(other_user["email"])["csrf_token"]
    auth.login(user["email"])  # sets the cookies on `client`
    body = {"name": "New Name"}
    assert_envelope(client.patch("/api/v1/users/me", json=body), 403, "AUTHORIZATION_ERROR")
    assert_envelope(client.patch("/api/v1/users/me", json=body, headers={"X-CSRF-Token": foreign_csrf}), 403)
    own = client.get_cookie("csrf_token").value
    assert_envelope(client.patch("/api/v1/users/me", json=body, headers={"X-CSRF-Token": own}), 200)


@pytest.mark.parametrize(
    "bad",
    [
        "*",
        "null",
        "https://*.example.com",
        "https://example.com/app",
        "example.com",
        "https://example.com.*",
        "https://(evil|good).com",
        "ftp://example.com",
        "https://.example.com",
    ],
)
def test_cors_origins_refuse_wildcards_null_patterns_and_paths(bad):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        allowed_origins(["https://ok.example.com", bad])


def test_cors_origins_are_normalised_exact_origins():
    value = "https://App.Example.com/, http://localhost:3000,https://app.example.com, http://[::1]:8080"
    assert allowed_origins(value) == ["https://app.example.com", "http://localhost:3000", "http://[::1]:8080"]


def test_app_refuses_to_start_with_a_wildcard_cors_origin(app):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        create_app("testing", {"CORS_ORIGINS": ["*"]})


def test_empty_cors_origins_allow_no_origin(app):
    client = create_app("testing", {"CORS_ORIGINS": []}).test_client()
    resp = client.get("/api/health", headers={"Origin": "https://anything.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers


@pytest.mark.parametrize(
    "email",
    [
        "bob@pаypal.com",  # Cyrillic 'а' inside a Latin label
        "bob@xn--pypal-4ve.com",  # the same, spelt in punycode
        "раypal@example.com",  # Cyrillic letters in the local part
        "josé@example.com",  # any non-ASCII local part
        "bob\u202e@example.com",
        "bob@exa\u200bmple.com",
    ],
)
def test_confusable_emails_are_refused_at_registration(client, email):
    resp = client.post("/api/v1/auth/register", json={"email": email, "password": DEFAULT_PASSWORD})
    body = assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert "email" in body["error"]["details"]


@pytest.mark.parametrize("email", ["bob@пример.рф", "bob@例え.jp", "Bob.Smith+tag@example.com"])
def test_single_script_international_domains_are_accepted(client, email):
    assert_envelope(
        client.post("/api/v1/auth/register", json={"email": email, "password": DEFAULT_PASSWORD}), 201
    )

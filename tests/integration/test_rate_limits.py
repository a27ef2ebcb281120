"""Rate limits (Flask-Limiter on real Redis): keys, envelope, Retry-After, proxies, outages."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app import create_app, errors
from app.envelope import success
from app.security.ratelimit import contact_limit
from tests.helpers import DEFAULT_PASSWORD, AuthActions, assert_envelope

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
DEAD_REDIS = "redis://127.0.0.1:1/0"


def limited_app(**overrides: Any) -> Flask:
    """A testing app with real rate limits (the suite's default app has them off)."""
    settings: dict[str, Any] = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_LOGIN_IP": "1000 per minute",
        "RATELIMIT_LOGIN_EMAIL": "1000 per minute",
        "RATELIMIT_REGISTER": "1000 per minute",
    }
    settings.update(overrides)
    return create_app("testing", settings)


def login(client, email: str, ip: str = "10.0.0.1", password: str = "Wrong-Password-1", **kw: Any):
    """POST /auth/login from `ip`."""
    return client.post(
        LOGIN, json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip}, **kw
    )


def assert_limited(resp) -> dict:
    """429 envelope with a Retry-After that matches error.details.retry_after."""
    body = assert_envelope(resp, 429, "RATE_LIMIT_EXCEEDED")
    retry_after = int(resp.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert body["error"]["details"]["retry_after"] == retry_after
    return body


def test_testing_config_keeps_limits_off_so_the_suite_never_sees_429(app, client, user):
    assert app.config["RATELIMIT_ENABLED"] is False and app.config["LOCKOUT_ENABLED"] is False
    for _ in range(30):
        assert_envelope(login(client, user["email"], password=user["password"]), 200)


def test_login_is_limited_per_ip_with_envelope_and_retry_after(app):
    client = limited_app(RATELIMIT_LOGIN_IP="10 per minute").test_client()
    for n in range(10):
        assert_envelope(login(client, f"u{n}@example.com"), 401, "AUTHENTICATION_ERROR")
    body = assert_limited(login(client, "another@example.com"))
    assert 50 <= body["error"]["details"]["retry_after"] <= 60
    # Another address is its own bucket.
    assert_envelope(login(client, "fresh@example.com", ip="10.0.0.2"), 401)


def test_login_is_limited_per_account_across_ips_and_spellings(app):
    client = limited_app(RATELIMIT_LOGIN_EMAIL="5 per minute").test_client()
    spellings = ["victim@example.com", "Victim@Example.com", " VICTIM@example.COM ", "victim@EXAMPLE.com"]
    for n in range(5):
        assert_envelope(login(client, spellings[n % 4], ip=f"10.1.0.{n}"), 401)
    assert_limited(login(client, "victim@example.com", ip="10.1.0.99"))
    # Another account from the same address is unaffected.
    assert_envelope(login(client, "other@example.com", ip="10.1.0.99"), 401)


def test_per_account_limit_treats_unknown_and_known_emails_alike(app):
    application = limited_app(RATELIMIT_LOGIN_EMAIL="3 per minute")
    client = application.test_client()
    known = AuthActions(client).register("known@example.com")["email"]
    statuses = {}
    for email in (known, "nobody@example.com"):
        seen = []
        for n in range(4):
            resp = login(client, email, ip=f"10.2.{len(statuses)}.{n}")
            seen.append((resp.status_code, resp.get_json()["message"]))
        statuses[email] = seen
    assert statuses[known] == statuses["nobody@example.com"]
    assert [s for s, _ in statuses[known]] == [401, 401, 401, 429]


def test_forwarded_for_is_ignored_without_trusted_proxies(app):
    client = limited_app(RATELIMIT_LOGIN_IP="3 per minute").test_client()
    for n in range(3):
        assert_envelope(login(client, "x@example.com", headers={"X-Forwarded-For": f"7.7.7.{n}"}), 401)
    assert_limited(login(client, "x@example.com", headers={"X-Forwarded-For": "8.8.8.8"}))


def test_forwarded_for_is_used_with_one_trusted_proxy_and_cannot_be_prefixed(app):
    application = limited_app(RATELIMIT_LOGIN_IP="3 per minute", TRUSTED_PROXY_COUNT=1)
    client = application.test_client()
    # The proxy appends the real client: only the right-most entry counts, whatever the client sent.
    for n in range(3):
        forwarded = f"203.0.113.{n}, 198.51.100.7"
        assert_envelope(login(client, "y@example.com", headers={"X-Forwarded-For": forwarded}), 401)
    assert_limited(login(client, "y@example.com", headers={"X-Forwarded-For": "1.1.1.1, 198.51.100.7"}))
    # A different real client (as the proxy reports it) has its own bucket.
    assert_envelope(login(client, "y@example.com", headers={"X-Forwarded-For": "198.51.100.8"}), 401)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/auth/login/", 404),
        ("/api/v1/auth/LOGIN", 404),
        ("/api/v1/Auth/login", 404),
        ("/API/v1/auth/login", 404),
        ("/api/v1/auth/login;x", 404),
    ],
)
def test_respelled_login_paths_do_not_reach_a_fresh_bucket(app, path, status):
    client = limited_app(RATELIMIT_LOGIN_IP="2 per minute").test_client()
    for _ in range(2):
        assert_envelope(login(client, "z@example.com"), 401)
    resp = client.post(
        path, json={"email": "z@example.com", "password": "x"}, environ_base={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert_envelope(resp, status)
    assert_limited(login(client, "z@example.com"))


def test_double_slash_login_redirects_to_the_limited_endpoint(app):
    client = limited_app(RATELIMIT_LOGIN_IP="2 per minute").test_client()
    for _ in range(2):
        assert_envelope(login(client, "z@example.com"), 401)
    resp = client.post(
        "/api/v1//auth/login",
        json={"email": "z@example.com", "password": "x"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert resp.status_code == 308 and resp.headers["Location"].endswith("/api/v1/auth/login")
    # Following the redirect (as clients do for 308, keeping the POST) lands in the same bucket.
    followed = client.post(
        resp.headers["Location"],
        json={"email": "z@example.com", "password": "x"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert_limited(followed)


def test_percent_encoded_path_shares_the_bucket(app):
    client = limited_app(RATELIMIT_LOGIN_IP="2 per minute").test_client()
    for _ in range(2):
        assert_envelope(login(client, "z@example.com"), 401)
    resp = client.post(
        "/api/v1/auth/%6Cogin",
        json={"email": "z@example.com", "password": "x"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert_limited(resp)


def test_two_app_instances_share_one_redis_counter(app):
    first = limited_app(RATELIMIT_LOGIN_IP="4 per minute").test_client()
    second = limited_app(RATELIMIT_LOGIN_IP="4 per minute").test_client()
    for client in (first, second, first, second):
        assert_envelope(login(client, "shared@example.com"), 401)
    assert_limited(login(second, "shared@example.com"))
    assert_limited(login(first, "shared@example.com"))


def test_memory_storage_is_used_without_redis_and_still_limits(app):
    application = limited_app(REDIS_URL=None, RATELIMIT_LOGIN_IP="2 per minute")
    assert application.config["RATELIMIT_STORAGE_URI"] == "memory://"
    client = application.test_client()
    for _ in range(2):
        assert_envelope(login(client, "m@example.com"), 401)
    assert_limited(login(client, "m@example.com"))


def test_a_later_app_with_other_storage_does_not_repoint_earlier_apps(app):
    healthy = limited_app(RATELIMIT_LOGIN_IP="2 per minute").test_client()
    limited_app(RATELIMIT_STORAGE_URI=DEAD_REDIS)  # the shared Limiter used to follow the last app
    limited_app(RATELIMIT_ENABLED=False)  # ... and a disabled app used to disable everyone
    for _ in range(2):
        assert_envelope(login(healthy, "p@example.com"), 401)
    assert_limited(login(healthy, "p@example.com"))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", LOGIN, {"email": "a@example.com", "password": "x"}),
        ("post", REGISTER, {"email": "new@example.com", "password": DEFAULT_PASSWORD}),
        ("post", "/api/v1/users/me/password", {"current_password": "a", "new_password": "b"}),
        ("get", "/api/v1/auth/sessions", None),
    ],
)
def test_limits_fail_closed_with_503_when_their_redis_is_down(app, method, path, body):
    client = limited_app(RATELIMIT_STORAGE_URI=DEAD_REDIS).test_client()
    headers = {"Authorization": "Bearer some-token"}
    resp = getattr(client, method)(path, json=body, headers=headers)
    assert_envelope(resp, 503, "SERVICE_UNAVAILABLE")
    assert "Connection" not in resp.get_data(as_text=True)


def test_register_is_limited_per_ip(app):
    client = limited_app(RATELIMIT_REGISTER="2 per minute").test_client()
    auth = AuthActions(client)
    auth.register()
    auth.register()
    resp = client.post(REGISTER, json={"email": "third@example.com", "password": DEFAULT_PASSWORD})
    assert_limited(resp)


def test_password_change_is_limited_per_session(app):
    application = limited_app(RATELIMIT_PASSWORD_CHANGE="3 per minute")
    client = application.test_client()
    auth = AuthActions(client)
    user = auth.register()
    headers = auth.login(user["email"])["headers"]
    wrong = {"current_password": "Not-The-Password-1", "new_password": "Another-Horse-77"}
    for n in range(3):
        resp = client.post(
            "/api/v1/users/me/password",
            json=wrong,
            headers=headers,
            environ_base={"REMOTE_ADDR": f"10.9.0.{n}"},
        )
        assert_envelope(resp, 422, "VALIDATION_ERROR")
    # A new IP does not help: the bucket is the session.
    resp = client.post(
        "/api/v1/users/me/password", json=wrong, headers=headers, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )
    assert_limited(resp)


def test_session_listing_is_limited(app):
    client = limited_app(RATELIMIT_SESSIONS="3 per minute").test_client()
    auth = AuthActions(client)
    headers = auth.login(auth.register()["email"])["headers"]
    for _ in range(3):
        assert_envelope(client.get("/api/v1/auth/sessions", headers=headers), 200)
    assert_limited(client.get("/api/v1/auth/sessions", headers=headers))


def _app_with_contact_route(**overrides: Any) -> Flask:
    application = limited_app(**overrides)

    @contact_limit
    def contact_probe():
        """Stands in for POST /api/v1/contact (built elsewhere) to exercise the exported limit."""
        return success(None, "sent")

    application.add_url_rule("/api/test/contact", "contact_probe", contact_probe, methods=["POST"])
    return application


def test_contact_limit_defaults_to_five_per_ip_per_hour(app):
    application = _app_with_contact_route()
    assert application.config["RATELIMIT_CONTACT"] == "5 per hour"
    client = application.test_client()
    for _ in range(5):
        assert_envelope(client.post("/api/test/contact", environ_base={"REMOTE_ADDR": "10.5.5.5"}), 200)
    body = assert_limited(client.post("/api/test/contact", environ_base={"REMOTE_ADDR": "10.5.5.5"}))
    assert body["error"]["details"]["retry_after"] > 3000
    assert_envelope(client.post("/api/test/contact", environ_base={"REMOTE_ADDR": "10.5.5.6"}), 200)


def test_rate_limited_error_carries_retry_after_header():
    assert errors.RateLimited(0).headers() == {"Retry-After": "1"}

"""Real-HTTP smoke test: register, log in, /auth/me by cookie and by bearer, log out."""

from __future__ import annotations

import functools

import requests

from tests.helpers import DEFAULT_PASSWORD


def _envelope(resp: requests.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text[:500]
    body = resp.json()
    assert body["code"] == status and body["success"] is (status < 400)
    assert resp.headers["X-Request-ID"] == body["request_id"]
    return body


def test_register_login_me_logout_over_http(live_server):
    base = live_server.url + "/api/v1"
    browser = requests.Session()
    browser.request = functools.partial(browser.request, timeout=10)  # type: ignore[method-assign]
    _envelope(
        browser.post(
            f"{base}/auth/register", json={"email": "smoke@example.com", "password": DEFAULT_PASSWORD}
        ),
        201,
    )
    login = _envelope(
        browser.post(f"{base}/auth/login", json={"email": "smoke@example.com", "password": DEFAULT_PASSWORD}),
        200,
    )
    token = login["data"]["session"]["token"]
    assert browser.cookies.get("authy2_session") == token

    # Cookie transport (the browser case).
    me = _envelope(browser.get(f"{base}/auth/me"), 200)
    assert me["data"]["user"]["email"] == "smoke@example.com"
    # Bearer transport (a non-browser client, no cookies at all).
    me = _envelope(
        requests.get(f"{base}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10), 200
    )
    assert me["data"]["user"]["email"] == "smoke@example.com"

    # Logout through the cookie needs the CSRF header.
    _envelope(browser.post(f"{base}/auth/logout"), 403)
    _envelope(
        browser.post(f"{base}/auth/logout", headers={"X-CSRF-Token": browser.cookies["csrf_token"]}), 200
    )
    _envelope(requests.get(f"{base}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10), 401)


def test_health_over_http(live_server):
    body = _envelope(requests.get(live_server.url + "/api/health", timeout=10), 200)
    assert body["data"]["checks"] == {"database": "ok", "session_store": "ok"}

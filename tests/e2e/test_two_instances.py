"""Horizontal scale: two app instances (separate gunicorn masters on two ports) share one
PostgreSQL and one Redis, as replicas behind a load balancer do. Nothing may live in one process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import server_env
from tests.e2e.infra import AppServer
from tests.helpers import DEFAULT_PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def instances(app) -> Iterator[tuple[AppServer, AppServer]]:
    """Instances A and B on the test database and Redis db (migrated by the `app` fixture)."""
    a = AppServer(server_env(LOG_FORMAT="json"), workers=2)
    try:
        b = AppServer(server_env(LOG_FORMAT="json"), workers=2)
    except Exception:
        a.stop()
        raise
    yield a, b
    a.stop()
    b.stop()


def _ok(resp: requests.Response, status: int = 200) -> dict:
    assert resp.status_code == status, resp.text[:500]
    body = resp.json()
    assert body["code"] == status
    return body


def _login(server: AppServer, email: str, session: requests.Session | None = None) -> dict:
    client = session or requests
    body = _ok(
        client.post(
            f"{server.url}/api/v1/auth/login", json={"email": email, "password": DEFAULT_PASSWORD}, timeout=10
        )
    )
    return body["data"]["session"]


def _register(server: AppServer, email: str) -> None:
    _ok(
        requests.post(
            f"{server.url}/api/v1/auth/register",
            json={"email": email, "password": DEFAULT_PASSWORD},
            timeout=10,
        ),
        201,
    )


def _me(server: AppServer, token: str) -> requests.Response:
    return requests.get(
        f"{server.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_session_created_on_one_instance_works_on_the_other(instances):
    a, b = instances
    _register(a, "scale-1@example.com")
    session = _login(b, "scale-1@example.com")  # the account made on A logs in on B
    assert _ok(_me(a, session["token"]))["data"]["user"]["email"] == "scale-1@example.com"
    assert _ok(_me(b, session["token"]))["data"]["user"]["email"] == "scale-1@example.com"
    listed = _ok(
        requests.get(
            f"{a.url}/api/v1/auth/sessions",
            headers={"Authorization": f"Bearer {session['token']}"},
            timeout=10,
        )
    )
    assert [s["id"] for s in listed["data"]["sessions"]] == [session["id"]]


def test_browser_cookie_and_csrf_from_one_instance_are_accepted_by_the_other(instances):
    a, b = instances
    _register(a, "scale-cookie@example.com")
    browser = requests.Session()
    _login(a, "scale-cookie@example.com", browser)
    # Same cookie jar against the other replica: the CSRF token is an HMAC with the shared SECRET_KEY.
    assert _ok(browser.get(f"{b.url}/api/v1/auth/me", timeout=10))["data"]["user"]["email"]
    _ok(
        browser.post(
            f"{b.url}/api/v1/auth/logout", headers={"X-CSRF-Token": browser.cookies["csrf_token"]}, timeout=10
        )
    )


def test_revocation_on_one_instance_takes_effect_on_the_other(instances):
    a, b = instances
    _register(a, "scale-2@example.com")
    phone = _login(a, "scale-2@example.com")
    laptop = _login(a, "scale-2@example.com")
    _ok(_me(a, phone["token"]))

    # On B, the laptop revokes the phone's session that A created.
    _ok(
        requests.delete(
            f"{b.url}/api/v1/auth/sessions/{phone['id']}",
            headers={"Authorization": f"Bearer {laptop['token']}"},
            timeout=10,
        )
    )
    for server in (a, b):
        body = _me(server, phone["token"]).json()
        assert body["code"] == 401 and body["error"]["type"] == "AUTHENTICATION_ERROR"
    _ok(_me(a, laptop["token"]))

    # Logout on A ends the session on B as well.
    _ok(
        requests.post(
            f"{a.url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {laptop['token']}"}, timeout=10
        )
    )
    assert _me(b, laptop["token"]).status_code == 401


def test_password_change_on_one_instance_revokes_other_sessions_everywhere(instances):
    a, b = instances
    _register(a, "scale-3@example.com")
    old = _login(a, "scale-3@example.com")
    current = _login(b, "scale-3@example.com")
    _ok(
        requests.post(
            f"{b.url}/api/v1/users/me/password",
            json={"current_password": DEFAULT_PASSWORD, "new_password": "Another-Horse-77"},
            headers={"Authorization": f"Bearer {current['token']}"},
            timeout=10,
        )
    )
    assert _me(a, old["token"]).status_code == 401
    _ok(_me(a, current["token"]))

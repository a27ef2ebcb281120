"""Real HTTP against gunicorn: CORS preflights, the Server header, security headers, and the
lockout and rate limits shared by several worker processes through Redis."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import LiveServer, server_env
from tests.helpers import DEFAULT_PASSWORD

ALLOWED = "https://app.example.com"
LOGIN = "/api/v1/auth/login"


@pytest.fixture(scope="module")
def secured_server(app) -> Iterator[LiveServer]:
    """gunicorn with 3 workers, exact CORS origins, lockout and login limits on."""
    server = LiveServer(
        server_env(
            CORS_ORIGINS=f"{ALLOWED},http://localhost:3000",
            LOCKOUT_ENABLED="true",
            RATELIMIT_ENABLED="true",
            RATELIMIT_LOGIN_IP="1000 per minute",
            RATELIMIT_LOGIN_EMAIL="1000 per minute",
            RATELIMIT_REGISTER="1000 per minute",
            BCRYPT_LOG_ROUNDS="8",
        ),
        workers=3,
    )
    yield server
    server.stop()


def preflight(server: LiveServer, origin: str, method: str = "POST") -> requests.Response:
    """An OPTIONS preflight as a browser sends it."""
    return requests.options(
        server.url + LOGIN,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type, x-csrf-token",
        },
        timeout=10,
    )


def test_preflight_from_an_allowed_origin_gets_exact_origin_and_credentials(secured_server):
    resp = preflight(secured_server, ALLOWED)
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    allowed_headers = resp.headers["Access-Control-Allow-Headers"].lower()
    assert "x-csrf-token" in allowed_headers and "content-type" in allowed_headers
    assert "Origin" in resp.headers.get("Vary", "")


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "https://evil.example",
        "https://app.example.com.evil.example",  # suffix/prefix tricks
        "https://evilapp.example.com",
        "https://sub.app.example.com",
        "http://app.example.com",  # scheme matters
        "https://app.example.com:8443",  # port matters
        "https://app-example.com",
    ],
)
def test_preflight_from_other_origins_gets_no_cors_grant(secured_server, origin):
    resp = preflight(secured_server, origin)
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "Access-Control-Allow-Credentials" not in resp.headers


def test_credentialed_request_from_allowed_origin_is_granted_and_never_wildcard(secured_server):
    resp = requests.get(secured_server.url + "/api/health", headers={"Origin": ALLOWED}, timeout=10)
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-Request-ID" in resp.headers["Access-Control-Expose-Headers"]
    other = requests.get(secured_server.url + "/api/health", headers={"Origin": "null"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in other.headers
    assert other.headers.get("Access-Control-Allow-Origin") != "*"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/health", 200),
        ("get", "/api/v1/missing", 404),
        ("delete", "/api/health", 405),
        ("get", "/", 404),
    ],
)
def test_gunicorn_responses_carry_security_headers_and_no_server_banner(secured_server, method, path, status):
    resp = requests.request(method, secured_server.url + path, timeout=10)
    assert resp.status_code == status
    assert resp.headers["Server"] == "authy2"
    assert "gunicorn" not in str(resp.headers).lower()
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in resp.headers  # testing is not production


def test_oversized_body_is_a_413_envelope_over_http(secured_server):
    resp = requests.post(
        secured_server.url + LOGIN,
        data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert resp.status_code == 413
    assert resp.json()["error"]["type"] == "PAYLOAD_TOO_LARGE"


def test_fifty_parallel_guesses_across_workers_let_only_five_reach_bcrypt(secured_server):
    email = "parallel-victim@example.com"
    reg = requests.post(
        secured_server.url + "/api/v1/auth/register",
        json={"email": email, "password": DEFAULT_PASSWORD},
        timeout=30,
    )
    assert reg.status_code == 201, reg.text
    barrier = threading.Barrier(50)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        barrier.wait()
        resp = requests.post(
            secured_server.url + LOGIN, json={"email": email, "password": f"Guess-{n}-Wrong"}, timeout=60
        )
        with lock:
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(statuses) == Counter({401: 5, 429: 45})
    locked = requests.post(
        secured_server.url + LOGIN, json={"email": email, "password": DEFAULT_PASSWORD}, timeout=30
    )
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


@pytest.fixture(scope="module")
def limited_server(app) -> Iterator[LiveServer]:
    """gunicorn with a tight per-IP login limit and no trusted proxy."""
    server = LiveServer(server_env(RATELIMIT_ENABLED="true", RATELIMIT_LOGIN_IP="3 per minute"), workers=2)
    yield server
    server.stop()


def test_login_ip_limit_holds_across_workers_and_ignores_forwarded_for(limited_server):
    statuses = []
    for n in range(5):
        resp = requests.post(
            limited_server.url + LOGIN,
            json={"email": f"nobody{n}@example.com", "password": "Wrong-Password-1"},
            headers={"X-Forwarded-For": f"203.0.113.{n}", "Connection": "close"},
            timeout=30,
        )
        statuses.append(resp.status_code)
    assert statuses == [401, 401, 401, 429, 429]
    body = resp.json()
    assert body["error"]["type"] == "RATE_LIMIT_EXCEEDED"
    assert int(resp.headers["Retry-After"]) == body["error"]["details"]["retry_after"]

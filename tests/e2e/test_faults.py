"""Fault behaviour under gunicorn: Redis down, PostgreSQL restarted, a database too slow.

Every dependency here is private to the test (its own redis-server and its own PostgreSQL
cluster on free ports), so stopping them disturbs nobody else. Every wait is bounded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest
import requests

from tests.e2e.conftest import server_env
from tests.e2e.infra import AppServer, PostgresCluster, RedisServer, migrate, wait_until
from tests.helpers import DEFAULT_PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STATEMENT_TIMEOUT_MS = 1500
METRICS_TOKEN = "m" * 40


@dataclass
class Stack:
    """The app and the dependencies it owns for this module."""

    server: AppServer
    redis: RedisServer
    pg: PostgresCluster

    def url(self, path: str) -> str:
        """Absolute URL on the app server."""
        return self.server.url + path


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """Private Redis + private PostgreSQL (migrated) + the app under gunicorn on both."""
    rds = RedisServer()
    pg = PostgresCluster()
    server = None
    try:
        rds.start()
        pg.start()
        pg.create_database()
        env = server_env(
            TEST_DATABASE_URL=pg.url,
            TEST_REDIS_URL=rds.url,
            DB_STATEMENT_TIMEOUT_MS=str(STATEMENT_TIMEOUT_MS),
            METRICS_TOKEN=METRICS_TOKEN,
            LOG_FORMAT="json",
        )
        migrate(env)
        server = AppServer(env, workers=2, timeout=30)
        yield Stack(server, rds, pg)
    finally:
        if server is not None:
            server.stop()
        rds.cleanup()
        pg.cleanup()


def _call(method: str, url: str, timeout: float = 15, **kwargs) -> requests.Response:  # noqa: ANN003
    """One HTTP request, always bounded in time."""
    return requests.request(method, url, timeout=timeout, **kwargs)


def _expect(resp: requests.Response, status: int, error_type: str | None = None) -> dict:
    assert resp.status_code == status, resp.text[:500]
    body = resp.json()
    assert body["code"] == status and body["success"] is (status < 400)
    assert body["request_id"] == resp.headers["X-Request-ID"]
    if error_type:
        assert body["error"]["type"] == error_type
        assert "Traceback" not in resp.text and "redis" not in resp.text.lower()
    return body


def _login(stack: Stack, email: str) -> str:
    """Register (if needed) and log in; return the bearer token."""
    _call("POST", stack.url("/api/v1/auth/register"), json={"email": email, "password": DEFAULT_PASSWORD})
    body = _expect(
        _call("POST", stack.url("/api/v1/auth/login"), json={"email": email, "password": DEFAULT_PASSWORD}),
        200,
    )
    return body["data"]["session"]["token"]


def _metric(stack: Stack, name: str, labels: str) -> float:
    """One sample of the server's /metrics (all workers summed), 0 if absent."""
    text = _call("GET", stack.url("/metrics"), headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def _health(stack: Stack) -> requests.Response:
    return _call("GET", stack.url("/api/health"), timeout=10)


def test_redis_down_session_routes_answer_503_then_recover_by_themselves(stack: Stack):
    token = _login(stack, "redis-fault@example.com")
    bearer = {"Authorization": f"Bearer {token}"}
    _expect(_call("GET", stack.url("/api/v1/auth/me"), headers=bearer), 200)
    errors_before = _metric(stack, "authy2_dependency_errors_total", 'dependency="session_store"')

    stack.redis.stop()
    try:
        started = time.monotonic()
        _expect(_call("GET", stack.url("/api/v1/auth/me"), headers=bearer), 503, "SERVICE_UNAVAILABLE")
        _expect(_call("GET", stack.url("/api/v1/auth/sessions"), headers=bearer), 503, "SERVICE_UNAVAILABLE")
        login = _call(
            "POST",
            stack.url("/api/v1/auth/login"),
            json={"email": "redis-fault@example.com", "password": DEFAULT_PASSWORD},
        )
        _expect(login, 503, "SERVICE_UNAVAILABLE")
        assert "Retry-After" in login.headers
        assert time.monotonic() - started < 20, "a dead Redis must fail fast, not hang the worker"

        health = _expect(_health(stack), 503, "SERVICE_UNAVAILABLE")
        assert health["error"]["details"]["failing"] == ["session_store"]
        assert health["error"]["details"]["checks"] == {"database": "ok", "session_store": "unavailable"}
        # Routes that need no session still work.
        _expect(_call("POST", stack.url("/api/v1/auth/login"), json={"email": "x"}), 422, "VALIDATION_ERROR")
        errors_after = _metric(stack, "authy2_dependency_errors_total", 'dependency="session_store"')
        assert errors_after >= errors_before + 3
    finally:
        stack.redis.start()

    # No restart of the app: its connection pools reconnect on their own.
    wait_until(lambda: _health(stack).status_code == 200, 20, 0.25, "health back to 200")
    for _ in range(4):  # several requests, so both workers are exercised
        me = _expect(_call("GET", stack.url("/api/v1/auth/me"), headers=bearer), 200)
        assert me["data"]["user"]["email"] == "redis-fault@example.com"
    assert _login(stack, "redis-fault@example.com")


def test_postgres_restart_next_requests_succeed(stack: Stack):
    token = _login(stack, "pg-restart@example.com")
    bearer = {"Authorization": f"Bearer {token}"}
    for _ in range(4):  # warm both workers' connection pools
        _expect(_call("GET", stack.url("/api/v1/auth/me"), headers=bearer), 200)

    stack.pg.stop()
    try:
        _expect(_call("GET", stack.url("/api/v1/auth/me"), headers=bearer), 503, "SERVICE_UNAVAILABLE")
        health = _expect(_health(stack), 503, "SERVICE_UNAVAILABLE")
        assert health["error"]["details"]["failing"] == ["database"]
    finally:
        stack.pg.start()

    # The pooled connections died with the server; pre-ping replaces them on checkout,
    # so the very next requests succeed (no retry loop here on purpose).
    for _ in range(6):
        _expect(_call("GET", stack.url("/api/v1/auth/me"), headers=bearer), 200)
    _expect(_health(stack), 200)
    assert _login(stack, "pg-restart@example.com")


def test_slow_database_is_cut_by_statement_timeout_not_worker_timeout(stack: Stack):
    token = _login(stack, "slow-db@example.com")
    bearer = {"Authorization": f"Bearer {token}"}
    _expect(_call("GET", stack.url("/api/v1/auth/me"), headers=bearer), 200)

    blocker = psycopg2.connect(host="127.0.0.1", port=stack.pg.port, user="postgres", dbname="authy2")
    try:
        with blocker.cursor() as cur:
            # Every read of users now waits for this transaction: a database that does not answer.
            cur.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        resp = _call("GET", stack.url("/api/v1/auth/me"), headers=bearer, timeout=25)
        elapsed = time.monotonic() - started
        _expect(resp, 503, "SERVICE_UNAVAILABLE")
        # Cancelled by PostgreSQL after DB_STATEMENT_TIMEOUT_MS, far below gunicorn's 30 s timeout.
        assert STATEMENT_TIMEOUT_MS / 1000 - 0.1 <= elapsed < STATEMENT_TIMEOUT_MS / 1000 + 5, elapsed
    finally:
        blocker.rollback()
        blocker.close()

    _expect(_call("GET", stack.url("/api/v1/auth/me"), headers=bearer), 200)
    assert "WORKER TIMEOUT" not in stack.server.log_text()

"""The Docker image's start command, run outside a container: docker/entrypoint.sh ->
gunicorn -c gunicorn.conf.py wsgi:app. Checks the JSON access log, /metrics across workers and a
graceful SIGTERM."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from tests.e2e.conftest import server_env
from tests.e2e.infra import AppServer
from tests.helpers import DEFAULT_PASSWORD

pytestmark = pytest.mark.e2e
METRICS_TOKEN = "t" * 40


def _log_lines(server: AppServer) -> list[dict]:
    """Every JSON line the server wrote (gunicorn's own and the app's)."""
    lines = []
    for raw in server.log_text().splitlines():
        if raw.strip():
            lines.append(json.loads(raw))  # every line must be JSON in production format
    return lines


def test_entrypoint_serves_with_json_logs_metrics_and_graceful_shutdown(app):
    server = AppServer(server_env(LOG_FORMAT="json", METRICS_TOKEN=METRICS_TOKEN), workers=2)
    try:
        base = server.url + "/api/v1"
        email = "ops@example.com"
        requests.post(
            f"{base}/auth/register", json={"email": email, "password": DEFAULT_PASSWORD}, timeout=10
        )
        login = requests.post(
            f"{base}/auth/login", json={"email": email, "password": DEFAULT_PASSWORD}, timeout=10
        )
        assert login.status_code == 200
        token = login.json()["data"]["session"]["token"]
        user_id = login.json()["data"]["user"]["id"]
        # A client that (wrongly) also puts its token in the query string: it must not reach the log.
        me = requests.get(
            f"{base}/auth/me?access_token={token}",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "ops-trace-1"},
            timeout=10,
        )
        assert me.status_code == 200 and me.headers["X-Request-ID"] == "ops-trace-1"
        for _ in range(10):
            assert requests.get(f"{base}/auth/sessions", timeout=10).status_code == 401

        # /metrics: the bearer token is required; values are summed over both workers.
        denied = requests.get(server.url + "/metrics", timeout=10)
        assert denied.status_code == 401 and denied.json()["error"]["type"] == "AUTHENTICATION_ERROR"
        for _ in range(4):  # whichever worker answers, the totals are the same
            text = requests.get(
                server.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
            ).text
            sessions_401 = r'endpoint="auth.list_sessions",method="GET",status="401"'
            assert re.search(rf"^authy2_http_requests_total\{{{sessions_401}\}} 10\.0$", text, re.M), text[
                :3000
            ]
            assert re.search(r'^authy2_logins_total\{method="password",result="success"\} 1\.0$', text, re.M)

        lines = _log_lines(server)
        access = [line for line in lines if line.get("logger") == "app.access"]
        me_line = next(line for line in access if line["request_id"] == "ops-trace-1")
        assert me_line["method"] == "GET" and me_line["path"] == "/api/v1/auth/me"
        assert me_line["status"] == 200 and me_line["user_id"] == user_id
        assert isinstance(me_line["duration_ms"], float) and me_line["duration_ms"] >= 0
        login_line = next(line for line in access if line["path"] == "/api/v1/auth/login")
        assert login_line["status"] == 200 and login_line["request_id"] == login.headers["X-Request-ID"]
        text = server.log_text()
        for secret in (token, DEFAULT_PASSWORD, "access_token", METRICS_TOKEN):
            assert secret not in text
        assert any(line.get("logger") == "gunicorn.error" for line in lines)  # gunicorn's own lines, JSON too
    finally:
        started = time.monotonic()
        code = server.stop()
    assert code == 0 and time.monotonic() - started < 15  # SIGTERM: a graceful, prompt exit


def test_sigterm_with_several_workers_exits_zero_every_time(app):
    # Regression: the master imported prometheus_client inside child_exit, which runs from the
    # SIGCHLD handler; two workers exiting together re-entered the import and the master exited 1
    # (intermittently; tests/unit/test_deploy_files.py checks the cause deterministically).
    for _ in range(2):
        server = AppServer(server_env(LOG_FORMAT="json"), workers=4)
        assert requests.get(server.url + "/api/health", timeout=10).status_code == 200
        log = server.log_text()
        assert server.stop() == 0, log[-2000:]

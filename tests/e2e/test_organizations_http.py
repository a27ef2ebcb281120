"""Real HTTP against gunicorn: the seeded owner creates an org, manages members, reads its audit log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FLASK_ENV": "testing"},
    )


def _ok(resp: requests.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text[:500]
    body = resp.json()
    assert body["code"] == status and resp.headers["X-Request-ID"] == body["request_id"]
    return body


def _login(base: str, email: str, password: str) -> dict[str, str]:
    body = _ok(
        requests.post(f"{base}/auth/login", json={"email": email, "password": password}, timeout=10), 200
    )
    return {"Authorization": f"Bearer {body['data']['session']['token']}"}


def test_seeded_org_flow_over_http(live_server):
    assert _run("-m", "scripts.seed_data").returncode == 0
    base = live_server.url + "/api/v1"
    alice = _login(base, "alice@acme-corp.com", "OwnerPass123!")
    bob = _login(base, "bob@acme-corp.com", "UserPass123!")

    orgs = _ok(requests.get(f"{base}/users/me/organizations", headers=bob, timeout=10), 200)
    acme = orgs["data"]["organizations"][0]
    assert (acme["slug"], acme["role"]) == ("acme-corp", "member")
    # bob (member) may not read the audit log; alice (owner) may.
    _ok(requests.get(f"{base}/organizations/{acme['id']}/audit-logs", headers=bob, timeout=10), 403)

    created = _ok(
        requests.post(f"{base}/organizations", json={"name": "Widgets Ltd"}, headers=alice, timeout=10), 201
    )
    org_url = f"{base}/organizations/{created['data']['organization']['id']}"
    _ok(
        requests.post(
            f"{org_url}/members",
            json={"email": "bob@acme-corp.com", "role": "admin"},
            headers={**alice, "X-Request-ID": "e2e-add-bob"},
            timeout=10,
        ),
        201,
    )
    logs = _ok(requests.get(f"{org_url}/audit-logs", headers=bob, timeout=10), 200)["data"]["audit_logs"]
    assert [(r["action"], r["request_id"]) for r in logs][0] == ("org.member_added", "e2e-add-bob")
    assert logs[-1]["action"] == "org.created"
    _ok(requests.get(f"{base}/organizations/not-a-uuid", headers=bob, timeout=10), 404)

    verify = _run("manage.py", "audit", "verify")
    assert verify.returncode == 0 and "audit chain OK" in verify.stdout, verify.stderr

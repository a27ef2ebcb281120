"""Audit rows for auth events, the hash chain, `audit verify`, and the seed command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models.audit import AuditLog
from app.services.audit import GENESIS_HASH, verify_chain
from tests.helpers import assert_envelope

ROOT = Path(__file__).resolve().parents[2]


def _actions(app):
    with app.app_context():
        return db.session.execute(select(AuditLog.action).order_by(AuditLog.id)).scalars().all()


def test_auth_events_are_audited_with_request_id(client, auth, app):
    u = auth.register()
    s = auth.login(u["email"])
    client.post("/api/v1/auth/logout", headers={**s["headers"], "X-Request-ID": "logout-req"})
    assert _actions(app) == ["user.registered", "auth.login.succeeded", "auth.logout"]
    with app.app_context():
        row = db.session.execute(select(AuditLog).where(AuditLog.action == "auth.logout")).scalar_one()
        assert row.request_id == "logout-req" and str(row.actor_user_id) == u["id"] and row.ip == "127.0.0.1"


def test_chain_links_each_row_to_the_previous(auth, app):
    auth.register()
    auth.register()
    with app.app_context():
        rows = db.session.execute(select(AuditLog).order_by(AuditLog.id)).scalars().all()
        assert rows[0].prev_hash == GENESIS_HASH
        assert rows[1].prev_hash == rows[0].hash
        assert verify_chain() == (2, None)


def test_database_refuses_update_and_delete_of_audit_rows(auth, app):
    auth.register()
    with app.app_context():
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text("UPDATE audit_logs SET action = 'x'"))
        db.session.rollback()
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text("DELETE FROM audit_logs"))
        db.session.rollback()


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "FLASK_ENV": "testing"},
    )


@pytest.mark.parametrize("tamper", ["update", "delete"])
def test_audit_verify_cli_detects_tampering(auth, app, tamper):
    for _ in range(3):
        auth.register()
    ok = _run_cli("audit", "verify")
    assert ok.returncode == 0 and "3 rows verified" in ok.stdout
    with app.app_context():
        second = db.session.execute(select(AuditLog.id).order_by(AuditLog.id).offset(1).limit(1)).scalar_one()
        # An attacker with table-owner rights can disable the trigger; the chain still tells.
        db.session.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only"))
        if tamper == "update":
            db.session.execute(text("UPDATE audit_logs SET ip = '6.6.6.6' WHERE id = :id"), {"id": second})
            expected = second
        else:
            db.session.execute(text("DELETE FROM audit_logs WHERE id = :id"), {"id": second})
            expected = second + 1
        db.session.execute(text("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only"))
        db.session.commit()
    bad = _run_cli("audit", "verify")
    assert bad.returncode == 1
    assert f"row id {expected}" in bad.stderr


def test_seed_command_is_idempotent_and_creates_bob(client, app):
    first = _run_cli("seed")
    assert first.returncode == 0, first.stderr
    assert "bob@acme-corp.com: created" in first.stdout
    again = subprocess.run(
        [sys.executable, "scripts/seed_data.py"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "FLASK_ENV": "testing"},
    )
    assert again.returncode == 0 and "bob@acme-corp.com: exists" in again.stdout
    resp = client.post("/api/v1/auth/login", json={"email": "bob@acme-corp.com", "password": "UserPass123!"})
    assert_envelope(resp, 200)


def test_seed_command_runs_under_the_flask_cli_runner(app):
    # `flask seed` needs an app context of its own (a plain click command had none).
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert "bob@acme-corp.com: created" in result.output

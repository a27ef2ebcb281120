"""The audit log of organizations and users: rows per event, read APIs, the chain under concurrency."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models.audit import AuditLog
from app.services import audit
from app.services.context import RequestInfo
from tests.helpers import assert_envelope
from tests.integration.orgs import ORGS, OrgWorld, add_member, build_world, new_actor

ROOT = Path(__file__).resolve().parents[2]
MY_LOGS = "/api/v1/users/me/audit-logs"


@pytest.fixture
def world(client, auth) -> OrgWorld:
    """An org with owner, admin and member, plus an outsider."""
    return build_world(client, auth)


def _row(app, action: str) -> AuditLog:
    """The newest row with this action (detached copy of its fields)."""
    with app.app_context():
        row = db.session.execute(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id.desc()).limit(1)
        ).scalar_one()
        db.session.expunge(row)
        return row


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "manage.py", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FLASK_ENV": "testing"},
    )


# --- one row per event, with actor, org, target and request id --------------------------------


def test_every_org_event_is_audited_with_actor_and_request_id(client, auth, app):
    owner, newcomer = new_actor(auth, "owner"), new_actor(auth, "newcomer")
    resp = client.post(ORGS, json={"name": "Audited"}, headers=owner.with_request_id("req-create"))
    org_id = assert_envelope(resp, 201)["data"]["organization"]["id"]
    url = f"{ORGS}/{org_id}"

    def check(action, request_id, actor, target_type, target_id, **details):
        row = _row(app, action)
        assert row.request_id == request_id
        assert str(row.actor_user_id) == actor.id
        assert str(row.organization_id) == org_id
        assert (row.target_type, row.target_id) == (target_type, target_id)
        assert row.ip == "127.0.0.1"
        for key, value in details.items():
            assert row.details[key] == value, (action, row.details)

    check("org.created", "req-create", owner, "organization", org_id, slug="audited")
    client.patch(url, json={"name": "Audited 2"}, headers=owner.with_request_id("req-update"))
    check("org.updated", "req-update", owner, "organization", org_id, fields=["name"])
    client.post(f"{url}/members", json={"email": newcomer.email}, headers=owner.with_request_id("req-add"))
    check("org.member_added", "req-add", owner, "user", newcomer.id, role="member")
    client.patch(
        f"{url}/members/{newcomer.id}/role", json={"role": "admin"}, headers=owner.with_request_id("req-role")
    )
    check(
        "org.member_role_changed", "req-role", owner, "user", newcomer.id, **{"from": "member", "to": "admin"}
    )
    resp = client.delete(url, headers=newcomer.with_request_id("req-denied"))
    assert_envelope(resp, 403)
    check("org.access_denied", "req-denied", newcomer, "organization", org_id, attempted="org.delete")
    client.delete(f"{url}/members/{newcomer.id}", headers=owner.with_request_id("req-remove"))
    check("org.member_removed", "req-remove", owner, "user", newcomer.id, role="admin", left=False)
    client.delete(url, headers=owner.with_request_id("req-delete"))
    check("org.deleted", "req-delete", owner, "organization", org_id, slug="audited")
    with app.app_context():
        assert audit.verify_chain()[1] is None


def test_leaving_is_audited_as_left(client, app, world):
    client.delete(world.url(f"/members/{world.member.id}"), headers=world.member.with_request_id("leave-1"))
    row = _row(app, "org.member_removed")
    assert row.details["left"] is True and str(row.actor_user_id) == world.member.id
    assert row.request_id == "leave-1"


def test_no_secret_reaches_audit_details(client, app, world):
    with app.app_context():
        blob = " ".join(str(d) for d in db.session.execute(select(AuditLog.details)).scalars())
    assert "Correct-Horse-42" not in blob and "token" not in blob.lower()


# --- GET /organizations/:id/audit-logs ---------------------------------------------------------


def test_org_audit_log_shows_creation_and_member_changes_newest_first(client, world):
    body = assert_envelope(client.get(world.url("/audit-logs"), headers=world.admin.headers), 200)
    actions = [row["action"] for row in body["data"]["audit_logs"]]
    assert actions == ["org.member_added", "org.member_added", "org.created"]
    ids = [row["id"] for row in body["data"]["audit_logs"]]
    assert ids == sorted(ids, reverse=True)
    assert body["meta"] == {"page": 1, "per_page": 20, "total": 3, "pages": 1}
    first = body["data"]["audit_logs"][0]
    assert set(first) >= {
        "occurred_at",
        "actor_user_id",
        "target_id",
        "request_id",
        "ip",
        "hash",
        "prev_hash",
    }
    # Only this org's rows: the outsider's org creation is not here.
    assert all(row["organization_id"] == world.org_id for row in body["data"]["audit_logs"])


def test_org_audit_log_filters(client, world):
    url = world.url("/audit-logs")
    h = world.owner.headers
    body = assert_envelope(client.get(f"{url}?action=org.created", headers=h), 200)
    assert [r["action"] for r in body["data"]["audit_logs"]] == ["org.created"]
    body = assert_envelope(client.get(f"{url}?action=org.member_*", headers=h), 200)
    assert body["meta"]["total"] == 2
    # `_` is literal in a prefix, not a LIKE wildcard.
    assert assert_envelope(client.get(f"{url}?action=org_*", headers=h), 200)["meta"]["total"] == 0
    body = assert_envelope(client.get(f"{url}?actor={world.owner.id}", headers=h), 200)
    assert body["meta"]["total"] == 3
    body = assert_envelope(client.get(f"{url}?actor={world.member.id}", headers=h), 200)
    assert body["meta"]["total"] == 0
    now = datetime.now(UTC)
    past, future = (now - timedelta(hours=1)).isoformat(), (now + timedelta(hours=1)).isoformat()
    body = assert_envelope(client.get(f"{url}?since={quote(past)}&until={quote(future)}", headers=h), 200)
    assert body["meta"]["total"] == 3
    body = assert_envelope(client.get(f"{url}?since={quote(future)}", headers=h), 200)
    assert body["meta"]["total"] == 0
    body = assert_envelope(client.get(f"{url}?until={quote(past)}", headers=h), 200)
    assert body["meta"]["total"] == 0
    # An unencoded '+' arrives as a space; it is still understood.
    plus = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    body = assert_envelope(client.get(f"{url}?since={plus}", headers=h), 200)
    assert body["meta"]["total"] == 3
    body = assert_envelope(client.get(f"{url}?since={now.date().isoformat()}", headers=h), 200)
    assert body["meta"]["total"] == 3


@pytest.mark.parametrize(
    "query",
    [
        "since=yesterday",
        "until=2026-13-01",
        "since=0001-01-01T00:00:00%2B01:00",
        "since=2026-01-02&until=2026-01-01",
        "actor=not-a-uuid",
        "action=DROP%20TABLE",
        "action=" + "a" * 65,
        "action=org.%00",
        "per_page=0",
        "per_page=101",
        "per_page=-1",
        "per_page=abc",
        "page=0",
        "bogus=1",
    ],
)
def test_org_audit_log_bad_query_is_422(client, world, query):
    resp = client.get(world.url(f"/audit-logs?{query}"), headers=world.owner.headers)
    assert_envelope(resp, 422, "VALIDATION_ERROR")


def test_org_audit_log_pagination(client, auth, world):
    for _ in range(4):
        add_member(client, world.org_id, world.owner, new_actor(auth))
    body = assert_envelope(
        client.get(world.url("/audit-logs?per_page=3&page=2"), headers=world.owner.headers), 200
    )
    assert body["meta"] == {"page": 2, "per_page": 3, "total": 7, "pages": 3}
    page1 = assert_envelope(client.get(world.url("/audit-logs?per_page=3"), headers=world.owner.headers), 200)
    assert page1["data"]["audit_logs"][-1]["id"] > body["data"]["audit_logs"][0]["id"]


def test_member_reading_org_audit_log_is_403_and_audited(client, app, world):
    resp = client.get(world.url("/audit-logs"), headers=world.member.with_request_id("peek"))
    assert_envelope(resp, 403, "AUTHORIZATION_ERROR")
    row = _row(app, "org.access_denied")
    assert row.details["attempted"] == "org.audit_read" and row.request_id == "peek"


# --- GET /users/me/audit-logs ------------------------------------------------------------------


def test_my_audit_log_has_my_events_and_events_about_me(client, auth, world):
    body = assert_envelope(client.get(MY_LOGS, headers=world.member.headers), 200)
    rows = body["data"]["audit_logs"]
    actions = [r["action"] for r in rows]
    # Newest first: added to the org by the owner, logged in, registered.
    assert actions == ["org.member_added", "auth.login.succeeded", "user.registered"]
    added = rows[0]
    assert added["actor_user_id"] == world.owner.id and added["target_id"] == world.member.id
    # Someone else's ip and user agent are withheld; mine are shown.
    assert added["ip"] is None and added["user_agent"] is None
    assert rows[1]["ip"] == "127.0.0.1"
    # Nobody else's own events leak in.
    assert all(r["actor_user_id"] in (world.member.id, world.owner.id, None) for r in rows)


def test_failed_logins_against_my_account_show_up_with_their_ip(client, world):
    client.post(
        "/api/v1/auth/login",
        json={"email": world.member.email, "password": "Wrong-Password-1"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    body = assert_envelope(
        client.get(f"{MY_LOGS}?action=auth.login.failed", headers=world.member.headers), 200
    )
    assert [(r["action"], r["ip"]) for r in body["data"]["audit_logs"]] == [
        ("auth.login.failed", "203.0.113.9")
    ]


def test_my_audit_log_filters_and_pagination(client, world):
    h = world.owner.headers
    body = assert_envelope(client.get(f"{MY_LOGS}?action=org.*&per_page=2", headers=h), 200)
    assert body["meta"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2}
    body = assert_envelope(client.get(f"{MY_LOGS}?actor={world.admin.id}", headers=h), 200)
    assert body["meta"]["total"] == 0
    for query in ("since=nope", "per_page=101", "actor=1", "until=2020-01-01&since=2021-01-01", "x=1"):
        assert_envelope(client.get(f"{MY_LOGS}?{query}", headers=h), 422, "VALIDATION_ERROR")


def test_my_audit_log_needs_authentication(app):
    assert_envelope(app.test_client().get(MY_LOGS), 401, "AUTHENTICATION_ERROR")


# --- the chain ---------------------------------------------------------------------------------


def test_concurrent_appends_never_fork_the_chain(app):
    """Threads on separate connections append at once; the advisory lock keeps one straight chain."""
    threads_n, per_thread = 8, 15
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for i in range(per_thread):
                    audit.record("test.concurrent", RequestInfo(request_id=f"w{n}-{i}"), details={"n": n})
                    if i % 3 == 2:
                        db.session.commit()  # also commit several rows at once
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.app_context():
        count, problem = audit.verify_chain()
        assert problem is None and count == threads_n * per_thread
        distinct = db.session.execute(select(func.count(func.distinct(AuditLog.prev_hash)))).scalar()
        assert distinct == count
        connections = db.session.execute(
            text("SELECT count(DISTINCT request_id) FROM audit_logs WHERE action = 'test.concurrent'")
        ).scalar()
        assert connections == count


def test_audit_verify_prints_the_head_and_checks_an_anchor(auth, app):
    for _ in range(3):
        auth.register()
    ok = _run_cli("audit", "verify")
    assert ok.returncode == 0, ok.stderr
    with app.app_context():
        head = db.session.execute(select(AuditLog).order_by(AuditLog.id.desc()).limit(1)).scalar_one()
        head_id, head_hash = head.id, head.hash
    assert f"head: id={head_id} hash={head_hash}" in ok.stdout
    assert _run_cli("audit", "verify", "--expect-head", head_hash).returncode == 0
    # New rows after the anchor are fine.
    auth.register()
    assert _run_cli("audit", "verify", "--expect-head", head_hash).returncode == 0
    # Deleting the newest rows leaves a valid-looking chain; only the anchor notices.
    with app.app_context():
        db.session.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only"))
        db.session.execute(text("DELETE FROM audit_logs WHERE id >= :id"), {"id": head_id})
        db.session.execute(text("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only"))
        db.session.commit()
    assert _run_cli("audit", "verify").returncode == 0
    bad = _run_cli("audit", "verify", "--expect-head", head_hash)
    assert bad.returncode == 1 and "expected head hash is not in the chain" in bad.stderr


def test_audit_verify_detects_a_forked_row(auth, app):
    for _ in range(2):
        auth.register()
    with app.app_context():
        first = db.session.execute(select(AuditLog).order_by(AuditLog.id).limit(1)).scalar_one()
        # A writer that skipped the lock would chain onto the same predecessor as another row.
        fork = AuditLog(
            occurred_at=datetime.now(UTC),
            action="forged",
            details={},
            prev_hash=first.hash,
        )
        fork.hash = audit.compute_hash(fork)
        db.session.add(fork)
        db.session.commit()
        fork_id = fork.id
    bad = _run_cli("audit", "verify")
    assert bad.returncode == 1 and f"row id {fork_id}" in bad.stderr


def test_org_audit_queries_can_use_an_index(app, world):
    """Each org audit-log query shape has an index to use (the planner is told to avoid seq scans;
    bench/audit_queries.py measures them at a million rows)."""
    where = {
        "action": "organization_id = :org AND action = :action",
        "prefix": "organization_id = :org AND action LIKE 'org.member%'",
        "time": "organization_id = :org AND occurred_at >= :since AND occurred_at < :until",
        "actor": "organization_id = :org AND actor_user_id = :actor",
    }
    params = {
        "org": world.org_id,
        "action": "org.created",
        "since": datetime(2026, 1, 1, tzinfo=UTC),
        "until": datetime(2027, 1, 1, tzinfo=UTC),
        "actor": world.owner.id,
    }
    with app.app_context():
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        for name, condition in where.items():
            for sql in (
                f"SELECT * FROM audit_logs WHERE {condition} ORDER BY id DESC LIMIT 20",  # noqa: S608 - fixed text
                f"SELECT count(*) FROM audit_logs WHERE {condition}",  # noqa: S608 - fixed text
            ):
                plan = "\n".join(db.session.execute(text(f"EXPLAIN {sql}"), params).scalars())
                assert "Seq Scan" not in plan and "ix_audit_logs_" in plan, (name, plan)
        db.session.rollback()

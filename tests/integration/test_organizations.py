"""Organizations: CRUD, slugs, members, the role matrix of DESIGN §4, IDOR, last-owner rules."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models.audit import AuditLog
from app.models.organization import Membership, Organization
from tests.helpers import DEFAULT_PASSWORD, assert_envelope
from tests.integration.orgs import ORGS, Actor, OrgWorld, add_member, build_world, create_org, new_actor

ME_ORGS = "/api/v1/users/me/organizations"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def me(logged_in) -> Actor:
    """The logged-in user as an Actor."""
    return Actor(logged_in["id"], logged_in["email"], logged_in["headers"])


@pytest.fixture
def world(client, auth) -> OrgWorld:
    """An org with owner, admin and member, plus an outsider."""
    return build_world(client, auth)


def _role_of(client, world: OrgWorld, user_id: str) -> str | None:
    body = assert_envelope(client.get(world.url("/members?per_page=100"), headers=world.owner.headers), 200)
    roles = {m["user_id"]: m["role"] for m in body["data"]["members"]}
    return roles.get(user_id)


def _denied_rows(app, actor_id: str) -> list[AuditLog]:
    with app.app_context():
        return (
            db.session.execute(
                select(AuditLog)
                .where(AuditLog.action == "org.access_denied", AuditLog.actor_user_id == uuid.UUID(actor_id))
                .order_by(AuditLog.id)
            )
            .scalars()
            .all()
        )


# --- create / read / update / delete -----------------------------------------------------------


def test_create_org_makes_the_creator_owner(client, logged_in):
    resp = client.post(
        ORGS, json={"name": "  Acme Widgets ", "description": "We make widgets"}, headers=logged_in["headers"]
    )
    org = assert_envelope(resp, 201)["data"]["organization"]
    assert org["name"] == "Acme Widgets" and org["slug"] == "acme-widgets"
    assert org["role"] == "owner" and org["member_count"] == 1
    mine = assert_envelope(client.get(ME_ORGS, headers=logged_in["headers"]), 200)["data"]["organizations"]
    assert [(o["id"], o["role"]) for o in mine] == [(org["id"], "owner")]


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme Corp!", "acme-corp"),
        ("Café Ünïcode", "cafe-unicode"),
        ("日本語", "org"),
        ("--A  B--", "a-b"),
        ("x" * 200, "x" * 50),
    ],
)
def test_slug_is_derived_from_the_name(client, me, name, slug):
    assert create_org(client, me, name)["slug"] == slug


def test_derived_slug_collision_gets_a_numeric_suffix(client, me):
    slugs = [create_org(client, me, "Same Name")["slug"] for _ in range(3)]
    assert slugs == ["same-name", "same-name-2", "same-name-3"]


def test_explicit_slug_that_is_taken_is_409(client, me):
    create_org(client, me, "One", slug="shared")
    resp = client.post(ORGS, json={"name": "Two", "slug": "shared"}, headers=me.headers)
    body = assert_envelope(resp, 409, "CONFLICT")
    assert "slug" in body["error"]["details"]


@pytest.mark.parametrize("slug", ["Upper", "with space", "-lead", "trail-", "dou--ble", "a" * 64, "", "é", 5])
def test_invalid_slug_is_422(client, logged_in, slug):
    resp = client.post(ORGS, json={"name": "X", "slug": slug}, headers=logged_in["headers"])
    assert "slug" in assert_envelope(resp, 422, "VALIDATION_ERROR")["error"]["details"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": "nul\x00byte"},
        {"name": 42},
        {"name": ["a"]},
        {"name": "ok", "owner_id": str(uuid.uuid4())},
        {"name": "ok", "id": str(uuid.uuid4())},
        {"name": "ok", "description": "d" * 2001},
    ],
)
def test_create_org_rejects_bad_bodies(client, logged_in, body):
    assert_envelope(client.post(ORGS, json=body, headers=logged_in["headers"]), 422, "VALIDATION_ERROR")


def test_create_org_rejects_non_json(client, logged_in):
    resp = client.post(ORGS, data="name=x", content_type="text/plain", headers=logged_in["headers"])
    assert_envelope(resp, 415)
    resp = client.post(ORGS, data="{bad", content_type="application/json", headers=logged_in["headers"])
    assert_envelope(resp, 400, "BAD_REQUEST")


def test_org_endpoints_need_authentication(app, world):
    client = app.test_client()  # no cookies from the logins that built the world
    for method, path in [
        ("post", ORGS),
        ("get", world.url()),
        ("patch", world.url()),
        ("delete", world.url()),
        ("get", world.url("/members")),
        ("post", world.url("/members")),
        ("delete", world.url(f"/members/{world.member.id}")),
        ("patch", world.url(f"/members/{world.member.id}/role")),
        ("get", world.url("/audit-logs")),
    ]:
        assert_envelope(getattr(client, method)(path), 401, "AUTHENTICATION_ERROR")


def test_get_org_shows_the_callers_role_and_member_count(client, world):
    for actor, role in [(world.owner, "owner"), (world.admin, "admin"), (world.member, "member")]:
        org = assert_envelope(client.get(world.url(), headers=actor.headers), 200)["data"]["organization"]
        assert org["role"] == role and org["member_count"] == 3 and org["id"] == world.org_id


def test_patch_org_updates_fields_and_refuses_unknown_ones(client, world):
    resp = client.patch(
        world.url(),
        json={"name": "Renamed", "slug": "renamed", "description": None},
        headers=world.admin.headers,
    )
    org = assert_envelope(resp, 200)["data"]["organization"]
    assert (org["name"], org["slug"], org["description"]) == ("Renamed", "renamed", None)
    assert_envelope(client.patch(world.url(), json={}, headers=world.admin.headers), 422)
    resp = client.patch(world.url(), json={"name": "x", "role": "owner"}, headers=world.admin.headers)
    assert assert_envelope(resp, 422)["error"]["details"] == {"role": ["Unknown field."]}


def test_patch_org_to_a_taken_slug_is_409(client, world):
    create_org(client, world.owner, "Other", slug="taken-slug")
    resp = client.patch(world.url(), json={"slug": "taken-slug"}, headers=world.owner.headers)
    assert_envelope(resp, 409, "CONFLICT")


def test_delete_org_removes_its_memberships(client, world, app):
    assert_envelope(client.delete(world.url(), headers=world.owner.headers), 200)
    assert_envelope(client.get(world.url(), headers=world.owner.headers), 404, "NOT_FOUND")
    for actor in (world.owner, world.admin, world.member):
        mine = assert_envelope(client.get(ME_ORGS, headers=actor.headers), 200)["data"]["organizations"]
        assert world.org_id not in [o["id"] for o in mine]
    with app.app_context():
        count = db.session.execute(
            select(func.count())
            .select_from(Membership)
            .where(Membership.organization_id == uuid.UUID(world.org_id))
        ).scalar()
        assert count == 0


# --- the role matrix ---------------------------------------------------------------------------


def _call(client, world: OrgWorld, action: str, actor):
    """Perform `action` as `actor`; the targets are fresh so every call is independent."""
    if action == "view":
        return client.get(world.url(), headers=actor.headers)
    if action == "list_members":
        return client.get(world.url("/members"), headers=actor.headers)
    if action == "update":
        return client.patch(world.url(), json={"description": "changed"}, headers=actor.headers)
    if action == "delete":
        return client.delete(world.url(), headers=actor.headers)
    if action == "read_audit":
        return client.get(world.url("/audit-logs"), headers=actor.headers)
    if action.startswith("add_"):
        role = action.removeprefix("add_")
        newcomer = world.extra["newcomer"]
        return client.post(
            world.url("/members"), json={"email": newcomer.email, "role": role}, headers=actor.headers
        )
    if action.startswith("remove_"):
        target = world.extra[action.removeprefix("remove_")]
        return client.delete(world.url(f"/members/{target.id}"), headers=actor.headers)
    if action.startswith("set_"):
        who, _, role = action.removeprefix("set_").partition("_to_")
        target = world.extra[who]
        return client.patch(
            world.url(f"/members/{target.id}/role"), json={"role": role}, headers=actor.headers
        )
    raise AssertionError(action)


# action -> expected status for (member, admin, owner); an outsider always gets 404.
MATRIX = {
    "view": (200, 200, 200),
    "list_members": (200, 200, 200),
    "update": (403, 200, 200),
    "delete": (403, 403, 200),
    "read_audit": (403, 200, 200),
    "add_member": (403, 201, 201),
    "add_admin": (403, 201, 201),
    "add_owner": (403, 403, 201),
    "remove_target_member": (403, 200, 200),
    "remove_target_admin": (403, 200, 200),
    "remove_target_owner": (403, 403, 200),
    "set_target_member_to_admin": (403, 200, 200),
    "set_target_admin_to_member": (403, 200, 200),
    "set_target_member_to_owner": (403, 403, 200),
    "set_target_owner_to_admin": (403, 403, 200),
    "set_target_owner_to_member": (403, 403, 200),
}
CASES = [
    (action, role, statuses[i])
    for action, statuses in MATRIX.items()
    for i, role in enumerate(("member", "admin", "owner"))
] + [(action, "outsider", 404) for action in MATRIX]


@pytest.mark.parametrize(("action", "role", "expected"), CASES)
def test_role_matrix(client, auth, app, world, action, role, expected):
    # Targets of each kind besides the three actors, so acting never touches the actor itself.
    world.extra["newcomer"] = new_actor(auth, "newcomer")
    for kind in ("member", "admin", "owner"):
        target = new_actor(auth, f"target-{kind}")
        add_member(client, world.org_id, world.owner, target, kind)
        world.extra[f"target_{kind}"] = target
    actor = getattr(world, role)
    resp = _call(client, world, action, actor)
    error_type = {403: "AUTHORIZATION_ERROR", 404: "NOT_FOUND"}.get(expected)
    assert_envelope(resp, expected, error_type)
    denied = _denied_rows(app, actor.id)
    if expected == 403:
        assert len(denied) == 1
        assert str(denied[0].organization_id) == world.org_id
        assert denied[0].request_id == resp.get_json()["request_id"]
        assert denied[0].details["attempted"]
    else:
        assert denied == []


def test_refused_action_changes_nothing(client, world):
    resp = client.patch(
        world.url(f"/members/{world.owner.id}/role"), json={"role": "member"}, headers=world.admin.headers
    )
    assert_envelope(resp, 403)
    resp = client.delete(world.url(f"/members/{world.owner.id}"), headers=world.admin.headers)
    assert_envelope(resp, 403)
    assert _role_of(client, world, world.owner.id) == "owner"
    resp = client.patch(
        world.url(f"/members/{world.admin.id}/role"), json={"role": "owner"}, headers=world.admin.headers
    )
    assert_envelope(resp, 403)
    assert _role_of(client, world, world.admin.id) == "admin"


def test_admin_can_demote_themself(client, world):
    resp = client.patch(
        world.url(f"/members/{world.admin.id}/role"), json={"role": "member"}, headers=world.admin.headers
    )
    assert assert_envelope(resp, 200)["data"]["member"]["role"] == "member"


def test_member_cannot_promote_themself(client, world):
    resp = client.patch(
        world.url(f"/members/{world.member.id}/role"), json={"role": "admin"}, headers=world.member.headers
    )
    assert_envelope(resp, 403, "AUTHORIZATION_ERROR")
    assert _role_of(client, world, world.member.id) == "member"


@pytest.mark.parametrize("who", ["member", "admin"])
def test_members_may_leave(client, world, who):
    actor = getattr(world, who)
    assert_envelope(client.delete(world.url(f"/members/{actor.id}"), headers=actor.headers), 200)
    assert_envelope(client.get(world.url(), headers=actor.headers), 404)
    assert _role_of(client, world, actor.id) is None


def test_setting_the_same_role_is_a_noop(client, world, app):
    resp = client.patch(
        world.url(f"/members/{world.member.id}/role"), json={"role": "member"}, headers=world.owner.headers
    )
    assert assert_envelope(resp, 200)["data"]["member"]["role"] == "member"
    with app.app_context():
        actions = db.session.execute(select(AuditLog.action)).scalars().all()
        assert "org.member_role_changed" not in actions


# --- last owner --------------------------------------------------------------------------------


def test_last_owner_cannot_leave(client, world):
    resp = client.delete(world.url(f"/members/{world.owner.id}"), headers=world.owner.headers)
    body = assert_envelope(resp, 409, "CONFLICT")
    assert "last owner" in body["message"]
    assert _role_of(client, world, world.owner.id) == "owner"


@pytest.mark.parametrize("role", ["admin", "member"])
def test_last_owner_cannot_demote_themself(client, world, role):
    resp = client.patch(
        world.url(f"/members/{world.owner.id}/role"), json={"role": role}, headers=world.owner.headers
    )
    assert_envelope(resp, 409, "CONFLICT")
    assert _role_of(client, world, world.owner.id) == "owner"


def test_an_owner_may_leave_or_step_down_when_another_owner_remains(client, world):
    client.patch(
        world.url(f"/members/{world.admin.id}/role"), json={"role": "owner"}, headers=world.owner.headers
    )
    resp = client.patch(
        world.url(f"/members/{world.owner.id}/role"), json={"role": "admin"}, headers=world.owner.headers
    )
    assert_envelope(resp, 200)
    # The new sole owner is now the last one.
    resp = client.delete(world.url(f"/members/{world.admin.id}"), headers=world.admin.headers)
    assert_envelope(resp, 409)


def test_two_owners_demoting_each_other_concurrently_leave_one_owner(app, client, world):
    client.patch(
        world.url(f"/members/{world.admin.id}/role"), json={"role": "owner"}, headers=world.owner.headers
    )
    barrier = threading.Barrier(2)
    results: list[int] = []

    def demote(actor, target) -> None:
        c = app.test_client()
        barrier.wait()
        resp = c.patch(
            world.url(f"/members/{target.id}/role"), json={"role": "member"}, headers=actor.headers
        )
        results.append(resp.status_code)

    threads = [
        threading.Thread(target=demote, args=(world.owner, world.admin)),
        threading.Thread(target=demote, args=(world.admin, world.owner)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The second request waits for the first's row lock, then sees it is no longer an owner
    # (403) or that only one owner is left (409); either way one owner remains.
    assert sorted(results)[0] == 200 and sorted(results)[1] in (403, 409), results
    with app.app_context():
        owners = db.session.execute(
            select(func.count())
            .select_from(Membership)
            .where(Membership.organization_id == uuid.UUID(world.org_id), Membership.role == "owner")
        ).scalar()
        assert owners == 1


# --- members -----------------------------------------------------------------------------------


def test_add_member_by_email_is_case_insensitive(client, auth, world):
    newcomer = new_actor(auth, "newcomer")
    resp = client.post(
        world.url("/members"), json={"email": newcomer.email.upper()}, headers=world.admin.headers
    )
    member = assert_envelope(resp, 201)["data"]["member"]
    assert member == {
        "user_id": newcomer.id,
        "email": newcomer.email,
        "name": None,
        "role": "member",
        "joined_at": member["joined_at"],
    }
    mine = assert_envelope(client.get(ME_ORGS, headers=newcomer.headers), 200)["data"]["organizations"]
    assert [(o["id"], o["role"]) for o in mine] == [(world.org_id, "member")]


def test_add_unknown_email_is_a_clear_404(client, world):
    resp = client.post(
        world.url("/members"), json={"email": "nobody@example.com"}, headers=world.owner.headers
    )
    body = assert_envelope(resp, 404, "NOT_FOUND")
    assert "register" in body["message"] and "email" in body["error"]["details"]


def test_add_existing_member_is_409(client, world):
    resp = client.post(world.url("/members"), json={"email": world.member.email}, headers=world.owner.headers)
    assert_envelope(resp, 409, "CONFLICT")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "not-an-email"},
        {"email": "a@example.com", "role": "superuser"},
        {"email": "a@example.com", "x": 1},
    ],
)
def test_add_member_rejects_bad_bodies(client, world, body):
    assert_envelope(client.post(world.url("/members"), json=body, headers=world.owner.headers), 422)


@pytest.mark.parametrize("body", [{}, {"role": "root"}, {"role": None}, {"role": "admin", "user_id": "x"}])
def test_change_role_rejects_bad_bodies(client, world, body):
    resp = client.patch(world.url(f"/members/{world.member.id}/role"), json=body, headers=world.owner.headers)
    assert_envelope(resp, 422, "VALIDATION_ERROR")


def test_acting_on_a_non_member_is_404(client, world):
    ghost = str(uuid.uuid4())
    assert_envelope(client.delete(world.url(f"/members/{ghost}"), headers=world.owner.headers), 404)
    resp = client.patch(
        world.url(f"/members/{ghost}/role"), json={"role": "admin"}, headers=world.owner.headers
    )
    assert_envelope(resp, 404)


def test_list_members_pagination_and_role_filter(client, auth, world):
    for _ in range(3):
        add_member(client, world.org_id, world.owner, new_actor(auth))
    body = assert_envelope(
        client.get(world.url("/members?per_page=2&page=2"), headers=world.member.headers), 200
    )
    assert body["meta"] == {"page": 2, "per_page": 2, "total": 6, "pages": 3}
    assert len(body["data"]["members"]) == 2
    body = assert_envelope(client.get(world.url("/members?page=9"), headers=world.member.headers), 200)
    assert body["data"]["members"] == [] and body["meta"]["total"] == 6
    body = assert_envelope(client.get(world.url("/members?role=admin"), headers=world.member.headers), 200)
    assert [m["user_id"] for m in body["data"]["members"]] == [world.admin.id]
    assert body["meta"]["total"] == 1
    first = assert_envelope(client.get(world.url("/members"), headers=world.member.headers), 200)
    assert first["data"]["members"][0]["user_id"] == world.owner.id
    assert all("password" not in str(m) for m in first["data"]["members"])


@pytest.mark.parametrize(
    "query",
    [
        "per_page=0",
        "per_page=101",
        "per_page=-1",
        "per_page=abc",
        "page=0",
        "page=-3",
        "page=1.5",
        "role=boss",
        "sort=x",
    ],
)
def test_list_members_bad_query_is_422(client, world, query):
    resp = client.get(world.url(f"/members?{query}"), headers=world.member.headers)
    assert_envelope(resp, 422, "VALIDATION_ERROR")


def test_per_page_100_is_allowed(client, world):
    body = assert_envelope(client.get(world.url("/members?per_page=100"), headers=world.member.headers), 200)
    assert body["meta"]["per_page"] == 100


# --- ids in paths and cross-org IDOR -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"{ORGS}/not-a-uuid"),
        ("patch", f"{ORGS}/1"),
        ("delete", f"{ORGS}/%00"),
        ("get", f"{ORGS}/{'9' * 500}/members"),
        ("get", f"{ORGS}/{{org}}/members/not-a-uuid"),
        ("delete", f"{ORGS}/{{org}}/members/not-a-uuid"),
        ("patch", f"{ORGS}/{{org}}/members/123/role"),
        ("get", f"{ORGS}/{uuid.uuid4()}"),
    ],
)
def test_bad_or_unknown_ids_in_paths_are_404(client, world, method, path):
    resp = getattr(client, method)(
        path.replace("{org}", world.org_id), json={"role": "admin"}, headers=world.owner.headers
    )
    assert_envelope(resp, 404, "NOT_FOUND")


def test_cross_org_idor_is_refused(client, auth, world, app):
    # Org B: the outsider owns it and has a member of their own.
    org_b = create_org(client, world.outsider, "Org B")
    b_member = new_actor(auth, "bmember")
    add_member(client, org_b["id"], world.outsider, b_member)
    a_owner = world.owner
    # Through org A's id, org B's member is simply not there.
    assert_envelope(client.delete(world.url(f"/members/{b_member.id}"), headers=a_owner.headers), 404)
    resp = client.patch(
        world.url(f"/members/{b_member.id}/role"), json={"role": "admin"}, headers=a_owner.headers
    )
    assert_envelope(resp, 404)
    resp = client.patch(
        world.url(f"/members/{world.outsider.id}/role"), json={"role": "member"}, headers=a_owner.headers
    )
    assert_envelope(resp, 404)
    # And org B itself does not exist for org A's owner.
    b_url = f"{ORGS}/{org_b['id']}"
    for method, path in [
        ("get", b_url),
        ("patch", b_url),
        ("delete", b_url),
        ("get", f"{b_url}/members"),
        ("post", f"{b_url}/members"),
        ("delete", f"{b_url}/members/{b_member.id}"),
        ("patch", f"{b_url}/members/{b_member.id}/role"),
        ("get", f"{b_url}/audit-logs"),
    ]:
        body = {"email": a_owner.email, "role": "owner", "name": "pwn"} if method != "get" else None
        if method == "patch" and path == b_url:
            body = {"name": "pwned"}
        if path.endswith("/role"):
            body = {"role": "owner"}
        if method == "post":
            body = {"email": a_owner.email, "role": "owner"}
        resp = getattr(client, method)(path, json=body, headers=a_owner.headers)
        assert_envelope(resp, 404, "NOT_FOUND")
    members_b = assert_envelope(client.get(f"{b_url}/members", headers=world.outsider.headers), 200)["data"][
        "members"
    ]
    assert {(m["user_id"], m["role"]) for m in members_b} == {
        (world.outsider.id, "owner"),
        (b_member.id, "member"),
    }
    org = assert_envelope(client.get(b_url, headers=world.outsider.headers), 200)["data"]["organization"]
    assert org["name"] == "Org B"


# --- account deletion and organizations --------------------------------------------------------


def test_deleting_the_last_owner_of_an_org_with_members_is_409_naming_it(client, world):
    resp = client.delete("/api/v1/users/me", json={"password": DEFAULT_PASSWORD}, headers=world.owner.headers)
    body = assert_envelope(resp, 409, "CONFLICT")
    assert "Test Org" in body["message"]
    assert body["error"]["details"]["organization"]["id"] == world.org_id
    assert_envelope(client.get("/api/v1/users/me", headers=world.owner.headers), 200)


def test_deleting_a_sole_member_deletes_the_org(client, app, world):
    # The outsider is the only member of "Outsider Org".
    mine = assert_envelope(client.get(ME_ORGS, headers=world.outsider.headers), 200)["data"]["organizations"]
    outsider_org = mine[0]["id"]
    resp = client.delete(
        "/api/v1/users/me", json={"password": DEFAULT_PASSWORD}, headers=world.outsider.headers
    )
    assert_envelope(resp, 200)
    with app.app_context():
        assert db.session.get(Organization, uuid.UUID(outsider_org)) is None
        actions = (
            db.session.execute(
                select(AuditLog.action)
                .where(AuditLog.organization_id == uuid.UUID(outsider_org))
                .order_by(AuditLog.id)
            )
            .scalars()
            .all()
        )
        assert actions[-1] == "org.deleted"


def test_deleting_a_member_account_keeps_the_org(client, app, world):
    resp = client.delete(
        "/api/v1/users/me", json={"password": DEFAULT_PASSWORD}, headers=world.member.headers
    )
    assert_envelope(resp, 200)
    assert _role_of(client, world, world.member.id) is None
    org = assert_envelope(client.get(world.url(), headers=world.owner.headers), 200)["data"]["organization"]
    assert org["member_count"] == 2
    with app.app_context():
        row = (
            db.session.execute(
                select(AuditLog).where(AuditLog.action == "org.member_removed").order_by(AuditLog.id.desc())
            )
            .scalars()
            .first()
        )
        assert row.details["reason"] == "account_deleted" and str(row.target_id) == world.member.id


def test_deleting_one_of_two_owners_is_allowed(client, world):
    client.patch(
        world.url(f"/members/{world.admin.id}/role"), json={"role": "owner"}, headers=world.owner.headers
    )
    resp = client.delete("/api/v1/users/me", json={"password": DEFAULT_PASSWORD}, headers=world.owner.headers)
    assert_envelope(resp, 200)
    assert _role_of_as(client, world, world.admin, world.admin.id) == "owner"


def _role_of_as(client, world, actor, user_id):
    body = assert_envelope(client.get(world.url("/members"), headers=actor.headers), 200)
    return {m["user_id"]: m["role"] for m in body["data"]["members"]}.get(user_id)


# --- races ---------------------------------------------------------------------------------------


def test_concurrent_creation_with_one_explicit_slug_gives_one_201_and_one_409(app, auth):
    actors = [new_actor(auth), new_actor(auth)]
    for round_ in range(3):
        barrier = threading.Barrier(2)
        results: list[int] = []

        def create(actor, slug=f"race-{round_}", barrier=barrier, results=results) -> None:
            c = app.test_client()
            barrier.wait()
            resp = c.post(ORGS, json={"name": "Race", "slug": slug}, headers=actor.headers)
            results.append(resp.status_code)

        threads = [threading.Thread(target=create, args=(a,)) for a in actors]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [201, 409]


def test_concurrent_creation_with_one_derived_slug_never_500s(app, auth):
    actors = [new_actor(auth), new_actor(auth), new_actor(auth)]
    barrier = threading.Barrier(3)
    results: list[int] = []

    def create(actor) -> None:
        c = app.test_client()
        barrier.wait()
        resp = c.post(ORGS, json={"name": "Same Derived"}, headers=actor.headers)
        results.append(resp.status_code)

    threads = [threading.Thread(target=create, args=(a,)) for a in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 201 in results and set(results) <= {201, 409}


# --- seed ----------------------------------------------------------------------------------------


def _run_seed() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.seed_data"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FLASK_ENV": "testing"},
    )


def test_seed_creates_acme_corp_with_alice_owner_and_bob_member_idempotently(client, app):
    first = _run_seed()
    assert first.returncode == 0, first.stderr
    assert "organization acme-corp: created" in first.stdout
    second = _run_seed()
    assert second.returncode == 0 and "organization acme-corp: exists" in second.stdout
    alice = client.post(
        "/api/v1/auth/login", json={"email": "alice@acme-corp.com", "password": "OwnerPass123!"}
    )
    headers = {"Authorization": f"Bearer {assert_envelope(alice, 200)['data']['session']['token']}"}
    orgs = assert_envelope(client.get(ME_ORGS, headers=headers), 200)["data"]["organizations"]
    assert [(o["slug"], o["name"], o["role"]) for o in orgs] == [("acme-corp", "Acme Corp", "owner")]
    members = assert_envelope(client.get(f"{ORGS}/{orgs[0]['id']}/members", headers=headers), 200)
    roles = {m["email"]: m["role"] for m in members["data"]["members"]}
    assert roles == {"alice@acme-corp.com": "owner", "bob@acme-corp.com": "member"}
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Organization)).scalar() == 1
        assert audit_verify_ok()


def audit_verify_ok() -> bool:
    """The chain verifies (inside an app context)."""
    from app.services.audit import verify_chain

    return verify_chain()[1] is None

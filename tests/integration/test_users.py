"""The /users/me endpoints: profile, password change, deletion, organizations."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models.audit import AuditLog
from app.models.user import User
from tests.helpers import DEFAULT_PASSWORD, AuthActions, assert_envelope

ME = "/api/v1/users/me"


def test_get_profile(client, logged_in):
    body = assert_envelope(client.get(ME, headers=logged_in["headers"]), 200)
    assert body["data"]["user"]["email"] == logged_in["email"]
    assert "password_hash" not in body["data"]["user"]


def test_patch_name(client, logged_in):
    resp = client.patch(ME, json={"name": "  Ada Lovelace "}, headers=logged_in["headers"])
    assert assert_envelope(resp, 200)["data"]["user"]["name"] == "Ada Lovelace"


@pytest.mark.parametrize(
    "field", ["role", "is_superadmin", "email_verified", "is_active", "id", "password_hash"]
)
def test_patch_privileged_field_is_refused_and_not_applied(client, logged_in, app, field):
    resp = client.patch(ME, json={"name": "x", field: True}, headers=logged_in["headers"])
    body = assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert body["error"]["details"] == {field: ["Unknown field."]}
    with app.app_context():
        user = db.session.get(User, __import__("uuid").UUID(logged_in["id"]))
        assert user.is_superadmin is False and user.name is None


def test_patch_empty_body_object_is_422(client, logged_in):
    assert_envelope(client.patch(ME, json={}, headers=logged_in["headers"]), 422, "VALIDATION_ERROR")


def test_patch_email_needs_current_password_and_resets_verification(client, logged_in):
    resp = client.patch(ME, json={"email": "changed@example.com"}, headers=logged_in["headers"])
    assert "current_password" in assert_envelope(resp, 422)["error"]["details"]
    resp = client.patch(
        ME,
        json={"email": "changed@example.com", "current_password": DEFAULT_PASSWORD},
        headers=logged_in["headers"],
    )
    user = assert_envelope(resp, 200)["data"]["user"]
    assert user["email"] == "changed@example.com" and user["email_verified"] is False


def test_patch_email_to_taken_address_is_409(client, auth, logged_in):
    other = auth.register()
    resp = client.patch(
        ME,
        json={"email": other["email"].upper(), "current_password": DEFAULT_PASSWORD},
        headers=logged_in["headers"],
    )
    assert_envelope(resp, 409, "CONFLICT")


def test_change_password_revokes_other_sessions_only(app, auth, user):
    keep = auth.login(user["email"])
    other = AuthActions(app.test_client()).login(user["email"])
    c = app.test_client()
    resp = c.post(
        f"{ME}/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "Brand-New-Pass-77"},
        headers=keep["headers"],
    )
    assert assert_envelope(resp, 200)["data"]["sessions_revoked"] == 1
    assert_envelope(c.get("/api/v1/auth/me", headers=keep["headers"]), 200)
    assert_envelope(c.get("/api/v1/auth/me", headers=other["headers"]), 401)
    assert_envelope(
        c.post("/api/v1/auth/login", json={"email": user["email"], "password": DEFAULT_PASSWORD}), 401
    )
    assert_envelope(
        c.post("/api/v1/auth/login", json={"email": user["email"], "password": "Brand-New-Pass-77"}), 200
    )


def test_change_password_wrong_current_is_422_and_audited(client, logged_in, app):
    resp = client.post(
        f"{ME}/password",
        json={"current_password": "Not-The-Password-1", "new_password": "Brand-New-Pass-77"},
        headers=logged_in["headers"],
    )
    assert "current_password" in assert_envelope(resp, 422, "VALIDATION_ERROR")["error"]["details"]
    with app.app_context():
        actions = db.session.execute(select(AuditLog.action)).scalars().all()
        assert "user.password_change_failed" in actions


def test_change_password_applies_policy(client, logged_in):
    resp = client.post(
        f"{ME}/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "short"},
        headers=logged_in["headers"],
    )
    assert "new_password" in assert_envelope(resp, 422)["error"]["details"]


def test_delete_account_needs_password_and_revokes_all_sessions(app, auth, user):
    a = auth.login(user["email"])
    b = AuthActions(app.test_client()).login(user["email"])
    c = app.test_client()
    assert_envelope(c.delete(ME, headers=a["headers"]), 422, "VALIDATION_ERROR")
    assert_envelope(c.delete(ME, json={"password": "Wrong-Password-9"}, headers=a["headers"]), 422)
    assert_envelope(c.delete(ME, json={"password": DEFAULT_PASSWORD}, headers=a["headers"]), 200)
    assert_envelope(c.get("/api/v1/auth/me", headers=a["headers"]), 401)
    assert_envelope(c.get("/api/v1/auth/me", headers=b["headers"]), 401)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar() == 0


def test_my_organizations_is_an_empty_list_for_a_new_user(client, logged_in):
    body = assert_envelope(client.get(f"{ME}/organizations", headers=logged_in["headers"]), 200)
    assert body["data"]["organizations"] == []


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_me_endpoints_need_authentication(client, method):
    resp = getattr(client, method)(ME)
    assert_envelope(resp, 401, "AUTHENTICATION_ERROR")

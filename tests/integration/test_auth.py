"""Registration, login, logout, /auth/me, sessions, CSRF (DESIGN §3)."""

from __future__ import annotations

import hashlib

import pytest
import redis
from sqlalchemy import select

from app.extensions import db
from app.models.audit import AuditLog
from app.models.user import User
from tests.conftest import TEST_REDIS_URL
from tests.helpers import DEFAULT_PASSWORD, AuthActions, assert_envelope

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"


def test_register_creates_user_and_hides_hash(client):
    resp = client.post(
        REGISTER, json={"email": "  New.User@Example.COM ", "password": DEFAULT_PASSWORD, "name": "N"}
    )
    body = assert_envelope(resp, 201)
    user = body["data"]["user"]
    assert user["email"] == "New.User@example.com"  # trimmed, domain lower-cased, local part as given
    assert user["email_verified"] is False and user["has_password"] is True
    assert "password" not in resp.get_data(as_text=True).lower().replace("has_password", "")


def test_register_taken_email_case_insensitively_answers_409(client, auth):
    auth.register("Taken@example.com")
    resp = client.post(REGISTER, json={"email": "tAKEN@EXAMPLE.com", "password": DEFAULT_PASSWORD})
    body = assert_envelope(resp, 409, "CONFLICT")
    assert "email" in body["error"]["details"]


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short1!", "at least 10 characters"),
        ("alllowercaseletters", "two kinds of characters"),
        ("Password123!", "too common"),
        ("1234567890", "two kinds"),
        ("é" * 37, "72 bytes"),
    ],
)
def test_register_weak_password_says_what_is_wrong(client, password, fragment):
    resp = client.post(REGISTER, json={"email": "weak@example.com", "password": password})
    body = assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert any(fragment in m for m in body["error"]["details"]["password"]), body


def test_password_of_exactly_72_bytes_is_accepted_and_73_refused(client):
    ok = "Aa1" + "x" * 69
    assert len(ok.encode()) == 72
    assert_envelope(client.post(REGISTER, json={"email": "b72@example.com", "password": ok}), 201)
    body = assert_envelope(
        client.post(REGISTER, json={"email": "b73@example.com", "password": ok + "y"}),
        422,
        "VALIDATION_ERROR",
    )
    assert "72 bytes" in body["error"]["details"]["password"][0]


def test_login_with_overlong_password_is_401_not_500(client, user):
    resp = client.post(LOGIN, json={"email": user["email"], "password": "x" * 500})
    assert_envelope(resp, 401, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.com", "a b@c.com", "x" * 300 + "@e.com"])
def test_register_invalid_email_is_422(client, email):
    resp = client.post(REGISTER, json={"email": email, "password": DEFAULT_PASSWORD})
    body = assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert "email" in body["error"]["details"]


def test_register_wrong_types_are_422(client):
    resp = client.post(REGISTER, json={"email": 5, "password": ["x"], "name": {"a": 1}})
    body = assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert set(body["error"]["details"]) == {"email", "password", "name"}


def test_register_name_with_nul_byte_is_422(client):
    resp = client.post(
        REGISTER, json={"email": "nul@example.com", "password": DEFAULT_PASSWORD, "name": "a\x00b"}
    )
    assert_envelope(resp, 422, "VALIDATION_ERROR")


def test_login_sets_cookies_and_returns_token(client, user, app):
    resp = client.post(LOGIN, json={"email": user["email"].upper(), "password": user["password"]})
    body = assert_envelope(resp, 200)
    session = body["data"]["session"]
    assert len(session["token"]) >= 43  # 32 random bytes, base64url
    assert session["auth_method"] == "password"
    cookies = resp.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("authy2_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith("csrf_token="))
    assert "HttpOnly" not in csrf_cookie
    assert session["csrf_token"] in csrf_cookie
    # Only the hash is stored.
    stored = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True).keys("*")
    assert not any(session["token"] in key for key in stored)
    token_hash = hashlib.sha256(session["token"].encode()).hexdigest()
    assert any(token_hash in key for key in stored)


def test_login_unknown_email_answers_like_wrong_password(client, user):
    wrong = client.post(LOGIN, json={"email": user["email"], "password": "Wrong-Password-1"})
    unknown = client.post(LOGIN, json={"email": "nobody@example.com", "password": "Wrong-Password-1"})
    a = assert_envelope(wrong, 401, "AUTHENTICATION_ERROR")
    b = assert_envelope(unknown, 401, "AUTHENTICATION_ERROR")
    assert a["message"] == b["message"] and a["error"] == b["error"]


def test_failed_login_is_audited_even_though_the_request_fails(client, user, app):
    client.post(
        LOGIN,
        json={"email": user["email"], "password": "Wrong-Password-1"},
        headers={"X-Request-ID": "rid-1"},
    )
    with app.app_context():
        row = db.session.execute(select(AuditLog).where(AuditLog.action == "auth.login.failed")).scalar_one()
        assert row.request_id == "rid-1" and row.target_id == user["id"]
        assert "Wrong-Password" not in str(row.details)


def test_inactive_user_cannot_log_in(client, user, app):
    with app.app_context():
        db.session.execute(select(User)).scalars().first().is_active = False
        db.session.commit()
    assert_envelope(client.post(LOGIN, json={"email": user["email"], "password": user["password"]}), 401)


def test_me_with_bearer_and_with_cookie(client, auth, user):
    session = auth.login(user["email"])
    resp = client.get("/api/v1/auth/me", headers=session["headers"])
    assert assert_envelope(resp, 200)["data"]["user"]["id"] == user["id"]
    resp = client.get("/api/v1/auth/me")  # the test client keeps the login cookie
    assert assert_envelope(resp, 200)["data"]["user"]["email"] == user["email"]


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer ", "Basic abc", "Bearer not-a-real-token", "Bearer " + "x" * 5000]
)
def test_me_rejects_bad_authorization(client, header):
    assert_envelope(
        client.get("/api/v1/auth/me", headers={"Authorization": header}), 401, "AUTHENTICATION_ERROR"
    )


def test_me_without_credentials_is_401(client):
    assert_envelope(client.get("/api/v1/auth/me"), 401, "AUTHENTICATION_ERROR")


def test_cookie_auth_unsafe_request_needs_csrf_header(client, auth, user):
    session = auth.login(user["email"])
    assert_envelope(client.post("/api/v1/auth/logout"), 403, "AUTHORIZATION_ERROR")
    assert_envelope(client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "wrong"}), 403)
    # The session survived the refused attempts.
    assert_envelope(client.get("/api/v1/auth/me"), 200)
    resp = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": session["csrf_token"]})
    assert_envelope(resp, 200)
    assert_envelope(client.get("/api/v1/auth/me", headers=session["headers"]), 401)


def test_csrf_token_of_another_session_is_refused(app, user):
    first, second = app.test_client(), app.test_client()
    AuthActions(first).login(user["email"])
    other = AuthActions(second).login(user["email"])
    resp = first.post("/api/v1/auth/logout", headers={"X-CSRF-Token": other["csrf_token"]})
    assert_envelope(resp, 403, "AUTHORIZATION_ERROR")


def test_bearer_requests_need_no_csrf(app, user):
    session = AuthActions(app.test_client()).login(user["email"])
    fresh = app.test_client()
    assert_envelope(fresh.post("/api/v1/auth/logout", headers=session["headers"]), 200)


def test_each_login_gets_a_new_token(auth, user):
    a = auth.login(user["email"])
    b = auth.login(user["email"])
    assert a["token"] != b["token"] and a["session_id"] != b["session_id"]


def test_logout_revokes_the_token(client, logged_in):
    assert_envelope(client.post("/api/v1/auth/logout", headers=logged_in["headers"]), 200)
    assert_envelope(client.get("/api/v1/auth/me", headers=logged_in["headers"]), 401)


def test_sessions_list_marks_current_and_hides_tokens(app, auth, user):
    first = auth.login(user["email"])
    second = AuthActions(app.test_client()).login(user["email"])
    resp = app.test_client().get("/api/v1/auth/sessions", headers=second["headers"])
    body = assert_envelope(resp, 200)
    sessions = body["data"]["sessions"]
    assert {s["id"] for s in sessions} == {first["session_id"], second["session_id"]}
    assert [s["current"] for s in sessions if s["id"] == second["session_id"]] == [True]
    text = resp.get_data(as_text=True)
    assert first["token"] not in text and second["token"] not in text


def test_revoke_own_other_session(app, auth, user):
    first = auth.login(user["email"])
    second = AuthActions(app.test_client()).login(user["email"])
    c = app.test_client()
    resp = c.delete(f"/api/v1/auth/sessions/{first['session_id']}", headers=second["headers"])
    assert_envelope(resp, 200)
    assert_envelope(c.get("/api/v1/auth/me", headers=first["headers"]), 401)
    assert_envelope(c.get("/api/v1/auth/me", headers=second["headers"]), 200)


def test_revoke_another_users_session_is_404_and_harmless(app, auth):
    alice = auth.register()
    bob = auth.register()
    alice_s = AuthActions(app.test_client()).login(alice["email"])
    bob_s = AuthActions(app.test_client()).login(bob["email"])
    c = app.test_client()
    resp = c.delete(f"/api/v1/auth/sessions/{alice_s['session_id']}", headers=bob_s["headers"])
    assert_envelope(resp, 404, "NOT_FOUND")
    assert_envelope(c.get("/api/v1/auth/me", headers=alice_s["headers"]), 200)


@pytest.mark.parametrize("session_id", ["nope", "x" * 200, "%00", "..%2f.."])
def test_revoke_unknown_session_id_is_404(client, logged_in, session_id):
    resp = client.delete(f"/api/v1/auth/sessions/{session_id}", headers=logged_in["headers"])
    assert_envelope(resp, 404, "NOT_FOUND")


def test_sql_store_app_logs_in_and_out(sql_client):
    actions = AuthActions(sql_client)
    u = actions.register()
    s = actions.login(u["email"])
    assert_envelope(sql_client.get("/api/v1/auth/me", headers=s["headers"]), 200)
    assert_envelope(sql_client.post("/api/v1/auth/logout", headers=s["headers"]), 200)
    assert_envelope(sql_client.get("/api/v1/auth/me", headers=s["headers"]), 401)

"""Regressions from a tester's run against the live server (each input kept as found)."""

from __future__ import annotations

import io
import logging
import uuid

import pytest

from app.logging_setup import ConsoleFormatter, RequestIdFilter, safe_path
from tests.helpers import assert_envelope
from tests.sso_helpers import make_org


@pytest.mark.parametrize(
    "spelling",
    [
        lambda u: u.hex,  # no dashes
        lambda u: "{" + str(u) + "}",
        lambda u: "urn:uuid:" + str(u),
    ],
    ids=["undashed", "braced", "urn"],
)
@pytest.mark.parametrize("suffix", ["clients", "sso"])
def test_non_canonical_uuid_spellings_are_404_on_every_org_route(app, client, logged_in, spelling, suffix):
    org_id = uuid.UUID(make_org(app, "spelling-org", {logged_in["id"]: "owner"}))
    canonical = client.get(f"/api/v1/organizations/{org_id}/{suffix}", headers=logged_in["headers"])
    assert canonical.status_code in (200, 404)  # 404 when no SSO connection exists yet
    resp = client.get(f"/api/v1/organizations/{spelling(org_id)}/{suffix}", headers=logged_in["headers"])
    body = assert_envelope(resp, 404, "NOT_FOUND")
    assert "rganization" in body["message"]


def test_a_newline_in_the_path_cannot_forge_a_console_log_line(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ConsoleFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("app")
    logger.addHandler(handler)
    try:
        assert_envelope(client.get("/api/x%0aFORGED-LINE"), 404, "NOT_FOUND")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert not any(line.startswith("FORGED-LINE") for line in lines)
    assert any("/api/x\\x0aFORGED-LINE" in line for line in lines)
    assert safe_path("/a\x00b\x7f") == "/a\\x00b\\x7f"


def test_delete_account_with_a_wrong_password_says_it_is_wrong(client, logged_in):
    resp = client.delete(
        "/api/v1/users/me", json={"password": "Not-The-Password-1"}, headers=logged_in["headers"]
    )
    body = assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert body["error"]["details"]["password"] == ["Password is incorrect."]
    resp = client.delete("/api/v1/users/me", headers=logged_in["headers"])
    body = assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert "required" in body["error"]["details"]["password"][0]


@pytest.mark.parametrize("name", ["\u200b", "   ", "\u200b \u2060", ""])
def test_invisible_or_blank_names_are_refused(client, logged_in, name):
    resp = client.patch("/api/v1/users/me", json={"name": name}, headers=logged_in["headers"])
    body = assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert body["error"]["details"]["name"] == ["Must not be empty."]
    resp = client.patch("/api/v1/users/me", json={"name": None}, headers=logged_in["headers"])
    assert assert_envelope(resp, 200)["data"]["user"]["name"] is None


def test_hash_cost_follows_the_app_even_after_another_app_was_created(app, client):
    from app import create_app

    create_app("testing", {"BCRYPT_LOG_ROUNDS": 6})  # re-binds the global Flask-Bcrypt instance
    resp = client.post(
        "/api/v1/auth/register", json={"email": "cost@example.com", "password": "Correct-Horse-42"}
    )
    assert_envelope(resp, 201)
    with app.app_context():
        from sqlalchemy import select

        from app.extensions import db
        from app.models.user import User

        stored = db.session.execute(select(User.password_hash)).scalar_one()
    assert stored.split("$")[2] == f"{app.config['BCRYPT_LOG_ROUNDS']:02d}"

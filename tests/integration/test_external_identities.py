"""Social-login endpoints without a provider: 404s, identity listing and unlinking rules."""

from __future__ import annotations

import uuid

import pytest

from app.extensions import db
from app.models.identity import ExternalIdentity
from app.models.user import User
from app.services.federation import safe_next
from tests.helpers import assert_envelope


def add_identity(app, user_id: str, provider: str, subject: str) -> str:
    with app.app_context():
        identity = ExternalIdentity(user_id=uuid.UUID(user_id), provider=provider, subject=subject)
        db.session.add(identity)
        db.session.commit()
        identity_id = str(identity.id)
        db.session.remove()
    return identity_id


@pytest.mark.parametrize("provider", ["google", "github", "microsoft"])
def test_unconfigured_provider_login_is_404_envelope(client, provider):
    body = assert_envelope(client.get(f"/api/v1/auth/external/{provider}/login"), 404, "NOT_FOUND")
    assert provider in body["message"]
    assert_envelope(client.get(f"/api/v1/auth/external/{provider}/callback?code=x&state=y"), 404, "NOT_FOUND")


def test_unknown_provider_is_404_envelope(client):
    assert_envelope(client.get("/api/v1/auth/external/facebook/login"), 404, "NOT_FOUND")
    assert_envelope(client.get("/api/v1/auth/external/" + "x" * 5000 + "/login"), 404, "NOT_FOUND")


def test_providers_listing_is_empty_when_none_configured(client):
    body = assert_envelope(client.get("/api/v1/auth/external/providers"), 200)
    assert body["data"]["providers"] == []


def test_identities_need_authentication(client):
    assert_envelope(client.get("/api/v1/users/me/identities"), 401, "AUTHENTICATION_ERROR")
    assert_envelope(client.delete(f"/api/v1/users/me/identities/{uuid.uuid4()}"), 401, "AUTHENTICATION_ERROR")


def test_list_identities_shows_only_own(app, client, auth, logged_in):
    add_identity(app, logged_in["id"], "google", "sub-mine")
    other = auth.register()
    add_identity(app, other["id"], "github", "sub-theirs")
    body = assert_envelope(client.get("/api/v1/users/me/identities", headers=logged_in["headers"]), 200)
    assert [(i["provider"], i["subject"]) for i in body["data"]["identities"]] == [("google", "sub-mine")]
    assert body["meta"]["total"] == 1


def test_unlink_other_users_identity_is_404(app, client, auth, logged_in):
    other = auth.register()
    theirs = add_identity(app, other["id"], "github", "sub-theirs")
    resp = client.delete(f"/api/v1/users/me/identities/{theirs}", headers=logged_in["headers"])
    assert_envelope(resp, 404, "NOT_FOUND")


@pytest.mark.parametrize("bad", ["not-a-uuid", "%00", "1" * 300, "00000000-0000-0000-0000-000000000000"])
def test_unlink_malformed_id_is_404(client, logged_in, bad):
    resp = client.delete(f"/api/v1/users/me/identities/{bad}", headers=logged_in["headers"])
    assert_envelope(resp, 404, "NOT_FOUND")


def test_unlink_with_password_allows_removing_the_only_identity(app, client, logged_in):
    mine = add_identity(app, logged_in["id"], "google", "sub-1")
    resp = client.delete(f"/api/v1/users/me/identities/{mine}", headers=logged_in["headers"])
    assert_envelope(resp, 200)
    body = assert_envelope(client.get("/api/v1/users/me/identities", headers=logged_in["headers"]), 200)
    assert body["data"]["identities"] == []


def test_unlink_last_identity_of_passwordless_user_is_409(app, client, logged_in):
    mine = add_identity(app, logged_in["id"], "google", "sub-1")
    with app.app_context():
        db.session.get(User, uuid.UUID(logged_in["id"])).password_hash = None
        db.session.commit()
        db.session.remove()
    resp = client.delete(f"/api/v1/users/me/identities/{mine}", headers=logged_in["headers"])
    assert_envelope(resp, 409, "CONFLICT")


FRONT = "https://app.example.com/portal"


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (None, FRONT),
        ("", FRONT),
        ("https://app.example.com/portal", "https://app.example.com/portal"),
        ("https://app.example.com/portal/settings?x=1#y", "https://app.example.com/portal/settings?x=1#y"),
        ("https://app.example.com/portalx", FRONT),
        ("https://app.example.com/", FRONT),
        ("http://app.example.com/portal", FRONT),
        ("https://app.example.com:8443/portal", FRONT),
        ("https://app.example.com.evil.test/portal", FRONT),
        ("https://user@app.example.com/portal", FRONT),
        ("//evil.test/portal", FRONT),
        ("/portal", FRONT),
        ("https://app.example.com\\@evil.test/portal", FRONT),
        ("https://app.example.com/portal\n.evil", FRONT),
        ("https://app.example.com:99999/portal", FRONT),
        ("javascript:alert(1)", FRONT),
    ],
)
def test_safe_next_only_allows_urls_under_frontend(candidate, expected):
    assert safe_next(candidate, FRONT) == expected

"""Client management for org admins (/api/v1/organizations/:id/clients) and consent management."""

from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models.audit import AuditLog
from app.models.oauth import OAuthClient
from tests.helpers import assert_envelope
from tests.oidc_support import REDIRECT_URI, make_org

NEW_CLIENT = {"name": "Portal", "redirect_uris": [REDIRECT_URI]}


@pytest.fixture
def admin(app, auth):
    """An org admin with a bearer token, and the org."""
    user = auth.register()
    session = auth.login(user["email"], user["password"])
    org = make_org(app, {user["id"]: "admin"})
    return {**user, **session, "org": org, "base": f"/api/v1/organizations/{org['id']}/clients"}


def _create(client, admin, body=None):
    resp = client.post(admin["base"], json=body or NEW_CLIENT, headers=admin["headers"])
    return assert_envelope(resp, 201)["data"]["client"]


def test_admin_creates_client_and_sees_secret_once(app, client, admin):
    created = _create(client, admin)
    assert created["client_secret"] and len(created["client_secret"]) >= 43  # 256 bits
    assert created["token_endpoint_auth_method"] == "client_secret_basic" and created["require_pkce"] is True
    shown = assert_envelope(
        client.get(f"{admin['base']}/{created['client_id']}", headers=admin["headers"]), 200
    )
    assert "client_secret" not in shown["data"]["client"] and "secret_hash" not in shown["data"]["client"]
    listed = assert_envelope(client.get(admin["base"], headers=admin["headers"]), 200)
    assert [c["client_id"] for c in listed["data"]["clients"]] == [created["client_id"]]
    assert listed["meta"]["total"] == 1
    with app.app_context():
        row = db.session.execute(select(OAuthClient)).scalar_one()
        assert row.secret_hash != created["client_secret"] and len(row.secret_hash) == 64
        assert "oauth.client.created" in db.session.execute(select(AuditLog.action)).scalars().all()
        db.session.remove()


def test_created_secret_authenticates_at_the_token_endpoint(client, admin):
    created = _create(
        client, admin, {**NEW_CLIENT, "grant_types": ["client_credentials"], "redirect_uris": []}
    )
    raw = f"{created['client_id']}:{created['client_secret']}".encode()
    resp = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
    )
    assert resp.status_code == 200, resp.get_json()


def test_rotate_secret_invalidates_the_old_one(client, admin):
    created = _create(
        client, admin, {**NEW_CLIENT, "grant_types": ["client_credentials"], "redirect_uris": []}
    )
    rotated = assert_envelope(
        client.post(f"{admin['base']}/{created['client_id']}/rotate-secret", headers=admin["headers"]), 200
    )["data"]["client"]
    assert rotated["client_secret"] != created["client_secret"]

    def token_status(secret):
        raw = f"{created['client_id']}:{secret}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, headers=headers
        ).status_code

    assert token_status(created["client_secret"]) == 401
    assert token_status(rotated["client_secret"]) == 200


def test_patch_and_delete_client(client, admin):
    created = _create(client, admin)
    url = f"{admin['base']}/{created['client_id']}"
    patched = assert_envelope(
        client.patch(
            url,
            json={"name": "Renamed", "redirect_uris": ["https://rp.example/cb"]},
            headers=admin["headers"],
        ),
        200,
    )["data"]["client"]
    assert patched["name"] == "Renamed" and patched["redirect_uris"] == ["https://rp.example/cb"]
    assert_envelope(client.delete(url, headers=admin["headers"]), 200)
    assert_envelope(client.get(url, headers=admin["headers"]), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "body",
    [
        {**NEW_CLIENT, "redirect_uris": ["https://rp.example/cb#frag"]},
        {**NEW_CLIENT, "redirect_uris": ["http://rp.example/cb"]},
        {**NEW_CLIENT, "redirect_uris": ["javascript:alert(1)"]},
        {**NEW_CLIENT, "redirect_uris": []},
        {**NEW_CLIENT, "scope": "openid admin"},
        {**NEW_CLIENT, "grant_types": ["password"]},
        {**NEW_CLIENT, "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"},
        {**NEW_CLIENT, "token_endpoint_auth_method": "private_key_jwt"},
        {**NEW_CLIENT, "client_secret": "mine"},
        {**NEW_CLIENT, "organization_id": str(uuid.uuid4())},
        {"redirect_uris": [REDIRECT_URI]},
        {**NEW_CLIENT, "name": "a\x00b"},
        {**NEW_CLIENT, "redirect_uris": "https://rp.example/cb"},
    ],
)
def test_invalid_client_settings_are_validation_errors(client, admin, body):
    assert_envelope(client.post(admin["base"], json=body, headers=admin["headers"]), 422, "VALIDATION_ERROR")


def test_patch_cannot_change_auth_method_or_set_unknown_fields(client, admin):
    created = _create(client, admin)
    url = f"{admin['base']}/{created['client_id']}"
    for body in ({"token_endpoint_auth_method": "none"}, {"secret_hash": "x"}, {}):
        assert_envelope(client.patch(url, json=body, headers=admin["headers"]), 422, "VALIDATION_ERROR")


def test_non_member_gets_404_and_member_gets_403(app, client, auth, admin):
    created = _create(client, admin)
    stranger = auth.register()
    stranger_headers = auth.login(stranger["email"], stranger["password"])["headers"]
    assert_envelope(client.get(admin["base"], headers=stranger_headers), 404, "NOT_FOUND")
    member = auth.register()
    member_headers = auth.login(member["email"], member["password"])["headers"]
    with app.app_context():
        from app.models.organization import Membership, Role

        db.session.add(
            Membership(
                organization_id=uuid.UUID(admin["org"]["id"]),
                user_id=uuid.UUID(member["id"]),
                role=Role.MEMBER,
            )
        )
        db.session.commit()
        db.session.remove()
    assert_envelope(client.get(admin["base"], headers=member_headers), 403, "AUTHORIZATION_ERROR")
    assert_envelope(
        client.post(admin["base"], json=NEW_CLIENT, headers=member_headers), 403, "AUTHORIZATION_ERROR"
    )
    assert_envelope(
        client.post(f"{admin['base']}/{created['client_id']}/rotate-secret", headers=member_headers),
        403,
        "AUTHORIZATION_ERROR",
    )


def test_another_orgs_client_is_not_found(app, client, admin):
    created = _create(client, admin)
    other = make_org(app, {admin["id"]: "owner"})
    url = f"/api/v1/organizations/{other['id']}/clients/{created['client_id']}"
    assert_envelope(client.get(url, headers=admin["headers"]), 404, "NOT_FOUND")


def test_bad_org_id_and_anonymous_access(app, client, admin):
    assert_envelope(
        client.get("/api/v1/organizations/not-a-uuid/clients", headers=admin["headers"]), 404, "NOT_FOUND"
    )
    assert_envelope(app.test_client().get(admin["base"]), 401, "AUTHENTICATION_ERROR")
    assert_envelope(
        client.get(admin["base"] + "?per_page=1000", headers=admin["headers"]), 422, "VALIDATION_ERROR"
    )


def test_consents_list_and_revoke(app, client, auth):
    from tests.integration.test_oidc_provider import full_flow
    from tests.oidc_support import make_client

    user = auth.register()
    session = auth.login(user["email"], user["password"])
    rp = make_client(app)
    tokens = full_flow(client, rp)["tokens"]
    listed = assert_envelope(client.get("/api/v1/users/me/consents", headers=session["headers"]), 200)
    assert [c["client_id"] for c in listed["data"]["consents"]] == [rp["client_id"]]
    assert_envelope(
        client.delete(f"/api/v1/users/me/consents/{rp['client_id']}", headers=session["headers"]), 200
    )
    assert (
        client.get(
            "/oauth2/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}
        ).status_code
        == 401
    )
    assert_envelope(
        client.delete(f"/api/v1/users/me/consents/{rp['client_id']}", headers=session["headers"]), 404
    )
    with app.app_context():
        assert "oauth.consent.revoked" in db.session.execute(select(AuditLog.action)).scalars().all()
        db.session.remove()

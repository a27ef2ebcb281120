"""Org admins configure SSO connections; discovery routes emails to them; secrets stay encrypted."""

from __future__ import annotations

import uuid

import pytest
from lxml import etree
from sqlalchemy import select

from app.extensions import db
from app.models.audit import AuditLog
from app.models.sso import SsoConnection
from app.security.sso_secrets import decrypt_sso_secret
from tests.helpers import assert_envelope
from tests.saml_idp import TestIdP
from tests.sso_helpers import make_org

OIDC_SECRET = "oidc-client-secret-value-123"


@pytest.fixture(scope="module")
def idp() -> TestIdP:
    return TestIdP()


@pytest.fixture
def org(app, logged_in) -> str:
    return make_org(app, "acme", {logged_in["id"]: "owner"})


def saml_body(idp: TestIdP, **extra) -> dict:
    return {"type": "saml", "idp_metadata_xml": idp.metadata(), "email_domains": ["Acme.EXAMPLE"], **extra}


def oidc_body(**extra) -> dict:
    return {
        "type": "oidc",
        "issuer": "https://login.acme.example",
        "client_id": "acme-client",
        "client_secret": OIDC_SECRET,
        "email_domains": ["acme-oidc.example"],
        **extra,
    }


def put(client, org_id, body, headers):
    return client.put(f"/api/v1/organizations/{org_id}/sso", json=body, headers=headers)


def stored(app) -> SsoConnection:
    with app.app_context():
        conn = db.session.execute(select(SsoConnection)).scalar_one()
        db.session.expunge(conn)
        db.session.remove()
    return conn


def test_admin_creates_saml_connection_from_metadata(app, client, org, logged_in, idp):
    body = assert_envelope(put(client, org, saml_body(idp), logged_in["headers"]), 200)
    conn = body["data"]["connection"]
    assert conn["type"] == "saml" and conn["email_domains"] == ["acme.example"]
    assert conn["saml"]["idp_entity_id"] == idp.entity_id
    assert conn["saml"]["idp_sso_url"] == idp.sso_url
    assert conn["saml"]["sp_acs_url"].endswith("/api/v1/auth/saml/acme/acs")
    assert "BEGIN CERTIFICATE" in conn["saml"]["sp_certificate"]
    text = put(client, org, saml_body(idp), logged_in["headers"]).get_data(as_text=True)
    assert "PRIVATE KEY" not in text
    row = stored(app)
    assert "PRIVATE KEY" not in row.sp_private_key_encrypted
    with app.app_context():
        assert "BEGIN PRIVATE KEY" in decrypt_sso_secret(row.sp_private_key_encrypted)
    # The SP key survives an update (the IdP already trusts its certificate).
    again = assert_envelope(put(client, org, saml_body(idp, enabled=False), logged_in["headers"]), 200)
    assert again["data"]["connection"]["saml"]["sp_certificate"] == conn["saml"]["sp_certificate"]
    got = assert_envelope(client.get(f"/api/v1/organizations/{org}/sso", headers=logged_in["headers"]), 200)
    assert got["data"]["connection"]["enabled"] is False


def test_oidc_secret_is_encrypted_and_never_returned(app, client, org, logged_in):
    resp = put(client, org, oidc_body(), logged_in["headers"])
    body = assert_envelope(resp, 200)
    assert OIDC_SECRET not in resp.get_data(as_text=True)
    oidc = body["data"]["connection"]["oidc"]
    assert oidc["has_client_secret"] is True
    assert oidc["discovery_url"] == "https://login.acme.example/.well-known/openid-configuration"
    assert oidc["redirect_uri"].endswith("/api/v1/auth/oidc/acme/callback")
    assert oidc["scopes"] == "openid email profile"
    row = stored(app)
    assert OIDC_SECRET not in row.oidc_client_secret_encrypted
    with app.app_context():
        assert decrypt_sso_secret(row.oidc_client_secret_encrypted) == OIDC_SECRET
    # Same client id: the secret may be omitted and is kept. A new client id needs a new secret.
    keep = oidc_body()
    del keep["client_secret"]
    assert_envelope(put(client, org, keep, logged_in["headers"]), 200)
    keep["client_id"] = "other-client"
    body = assert_envelope(put(client, org, keep, logged_in["headers"]), 422, "VALIDATION_ERROR")
    assert "client_secret" in body["error"]["details"]
    audit = [d for a, d in audit_rows(app) if a.startswith("sso.")]
    assert all(OIDC_SECRET not in str(d) for d in audit)


def test_oidc_connection_needs_a_secret_when_created(client, org, logged_in):
    body = oidc_body()
    del body["client_secret"]
    assert_envelope(put(client, org, body, logged_in["headers"]), 422, "VALIDATION_ERROR")


def audit_rows(app) -> list[tuple[str, dict]]:
    with app.app_context():
        rows = [
            (r.action, r.details)
            for r in db.session.execute(select(AuditLog).order_by(AuditLog.id)).scalars()
        ]
        db.session.remove()
    return rows


def test_configuration_changes_are_audited_with_the_org(app, client, org, logged_in, idp):
    assert_envelope(put(client, org, saml_body(idp), logged_in["headers"]), 200)
    assert_envelope(put(client, org, oidc_body(), logged_in["headers"]), 200)
    assert_envelope(client.delete(f"/api/v1/organizations/{org}/sso", headers=logged_in["headers"]), 200)
    assert_envelope(
        client.get(f"/api/v1/organizations/{org}/sso", headers=logged_in["headers"]), 404, "NOT_FOUND"
    )
    with app.app_context():
        rows = db.session.execute(
            select(AuditLog).where(AuditLog.action.like("sso.%")).order_by(AuditLog.id)
        ).scalars()
        got = [(r.action, str(r.organization_id), str(r.actor_user_id)) for r in rows]
        db.session.remove()
    assert got == [
        ("sso.connection_created", org, logged_in["id"]),
        ("sso.connection_updated", org, logged_in["id"]),
        ("sso.connection_deleted", org, logged_in["id"]),
    ]


def test_non_member_gets_404_and_member_gets_403(app, client, auth, org, logged_in, idp):
    outsider = auth.register()
    outsider_headers = auth.login(outsider["email"])["headers"]
    member = auth.register()
    with app.app_context():
        from app.models.organization import Membership, Role

        db.session.add(
            Membership(organization_id=uuid.UUID(org), user_id=uuid.UUID(member["id"]), role=Role.MEMBER)
        )
        db.session.commit()
        db.session.remove()
    member_headers = auth.login(member["email"])["headers"]
    for method in ("get", "put", "delete"):
        kwargs = {"json": saml_body(idp)} if method == "put" else {}
        call = getattr(client, method)
        assert_envelope(
            call(f"/api/v1/organizations/{org}/sso", headers=outsider_headers, **kwargs), 404, "NOT_FOUND"
        )
        assert_envelope(
            call(f"/api/v1/organizations/{org}/sso", headers=member_headers, **kwargs),
            403,
            "AUTHORIZATION_ERROR",
        )
    assert_envelope(
        client.get(f"/api/v1/organizations/{uuid.uuid4()}/sso", headers=logged_in["headers"]), 404
    )
    assert_envelope(client.get("/api/v1/organizations/not-a-uuid/sso", headers=logged_in["headers"]), 404)
    assert_envelope(app.test_client().get(f"/api/v1/organizations/{org}/sso"), 401, "AUTHENTICATION_ERROR")


def test_domain_routed_to_another_org_is_409(app, client, auth, org, logged_in, idp):
    assert_envelope(put(client, org, saml_body(idp), logged_in["headers"]), 200)
    other_admin = auth.register()
    other = make_org(app, "globex", {other_admin["id"]: "admin"})
    headers = auth.login(other_admin["email"])["headers"]
    body = assert_envelope(
        put(client, other, saml_body(idp, email_domains=["acme.example", "globex.example"]), headers),
        409,
        "CONFLICT",
    )
    assert "email_domains" in body["error"]["details"]


@pytest.mark.parametrize(
    "patch",
    [
        {"type": "ldap"},
        {"email_domains": ["not a domain"]},
        {"email_domains": ["*.acme.example"]},
        {"email_domains": ["a" * 300]},
        {"default_role": "owner"},
        {"attribute_mapping": {"is_superadmin": "x"}},
        {"idp_metadata_xml": "<not-metadata/>"},
        {"idp_metadata_xml": "not xml at all \x00"},
        {"client_id": "x"},
        {"unknown": 1},
        {"enabled": "sometimes"},
    ],
)
def test_invalid_connection_input_is_a_4xx(client, org, logged_in, idp, patch):
    body = saml_body(idp)
    body.update(patch)
    resp = put(client, org, body, logged_in["headers"])
    assert resp.status_code in (400, 422), resp.get_data(as_text=True)
    assert_envelope(resp, resp.status_code)


def test_saml_fields_instead_of_metadata_and_bad_certificate(client, org, logged_in, idp):
    body = {
        "type": "saml",
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.sso_url,
        "idp_x509_cert": "MIIBnotacert",
    }
    errors = assert_envelope(put(client, org, body, logged_in["headers"]), 422)["error"]["details"]
    assert "idp_x509_cert" in errors
    body["idp_x509_cert"] = idp.cert
    assert_envelope(put(client, org, body, logged_in["headers"]), 200)
    body["idp_sso_url"] = "javascript:alert(1)"
    assert_envelope(put(client, org, body, logged_in["headers"]), 422)


def test_metadata_with_xxe_is_refused(client, org, logged_in, idp):
    evil = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        + idp.metadata().split("?>", 1)[1].replace(idp.sso_url, "&e;")
    )
    resp = put(client, org, saml_body(idp, idp_metadata_xml=evil), logged_in["headers"])
    assert_envelope(resp, 422, "VALIDATION_ERROR")
    assert "root:" not in resp.get_data(as_text=True)


def test_discover_routes_domain_to_connection(client, org, logged_in, idp):
    assert_envelope(put(client, org, saml_body(idp), logged_in["headers"]), 200)
    body = assert_envelope(
        client.post("/api/v1/auth/sso/discover", json={"email": "Someone@ACME.example"}), 200
    )
    assert body["data"]["sso"] is True and body["data"]["type"] == "saml"
    assert body["data"]["organization"] == {"name": "Acme", "slug": "acme"}
    assert body["data"]["login_url"].endswith("/api/v1/auth/saml/acme/login")
    other = assert_envelope(
        client.post("/api/v1/auth/sso/discover", json={"email": "a@elsewhere.example"}), 200
    )
    assert other["data"] == {"sso": False, "methods": ["password"]}
    assert_envelope(client.post("/api/v1/auth/sso/discover", json={"email": "nope"}), 422)
    assert_envelope(client.post("/api/v1/auth/sso/discover", json={"email": "a@acme.example", "x": 1}), 422)
    assert_envelope(client.post("/api/v1/auth/sso/discover", data="{", content_type="application/json"), 400)
    # A disabled connection is not offered.
    assert_envelope(put(client, org, saml_body(idp, enabled=False), logged_in["headers"]), 200)
    off = assert_envelope(client.post("/api/v1/auth/sso/discover", json={"email": "x@acme.example"}), 200)
    assert off["data"]["sso"] is False


def test_sp_metadata_is_signed_and_names_the_acs(client, org, logged_in, idp):
    assert_envelope(put(client, org, saml_body(idp), logged_in["headers"]), 200)
    resp = client.get("/api/v1/auth/saml/acme/metadata")
    assert resp.status_code == 200 and resp.mimetype == "application/samlmetadata+xml"
    root = etree.fromstring(resp.data)
    ns = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}
    assert root.get("entityID").endswith("/api/v1/auth/saml/acme/metadata")
    acs = root.find(".//md:AssertionConsumerService", ns)
    assert acs.get("Location").endswith("/api/v1/auth/saml/acme/acs")
    assert root.find("ds:Signature", ns) is not None
    sp = root.find("md:SPSSODescriptor", ns)
    assert sp.get("WantAssertionsSigned") == "true" and sp.get("AuthnRequestsSigned") == "true"


def test_saml_endpoints_of_unknown_org_are_404(client):
    for path in ("metadata", "login"):
        assert_envelope(client.get(f"/api/v1/auth/saml/nope/{path}"), 404, "NOT_FOUND")
    assert_envelope(client.post("/api/v1/auth/saml/nope/acs", data={"SAMLResponse": "x"}), 404, "NOT_FOUND")
    assert_envelope(client.get("/api/v1/auth/oidc/nope/login"), 404, "NOT_FOUND")

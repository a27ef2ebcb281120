"""SAML SP: SP-initiated login and the ACS, with responses signed by an independent library (signxml).

Every refusal must land on FRONTEND_URL with ?error=<code> and open no session.
"""

from __future__ import annotations

import copy
import uuid

import pytest
from lxml import etree
from sqlalchemy import select

from app.extensions import db
from app.models.audit import AuditLog
from app.models.identity import ExternalIdentity
from app.models.organization import Membership
from app.models.user import User
from tests.helpers import assert_envelope
from tests.saml_idp import DS, SAML, TestIdP, encode, make_keypair, strip_placeholder
from tests.sso_helpers import add_member, authn_request_id, make_org, query

NS = {"saml": SAML, "ds": DS}


@pytest.fixture(scope="module")
def idp() -> TestIdP:
    return TestIdP()


class Sp:
    """The SP endpoints of the `acme` organization, as the IdP must address them."""

    def __init__(self, app, org_id: str, admin: dict) -> None:
        base = app.config["PUBLIC_BASE_URL"].rstrip("/") + "/api/v1/auth/saml/acme"
        self.org_id = org_id
        self.admin = admin
        self.entity_id = base + "/metadata"
        self.acs = base + "/acs"
        self.frontend = app.config["FRONTEND_URL"]


@pytest.fixture
def sp(app, client, logged_in, idp) -> Sp:
    org_id = make_org(app, "acme", {logged_in["id"]: "owner"})
    resp = client.put(
        f"/api/v1/organizations/{org_id}/sso",
        json={
            "type": "saml",
            "idp_metadata_xml": idp.metadata(),
            "email_domains": ["acme.example"],
            "default_role": "member",
        },
        headers=logged_in["headers"],
    )
    assert_envelope(resp, 200)
    return Sp(app, org_id, logged_in)


def start_login(app, next_url: str | None = None) -> tuple[object, str]:
    """A fresh browser starts SP-initiated login; returns it and the AuthnRequest id."""
    browser = app.test_client()
    path = "/api/v1/auth/saml/acme/login" + (f"?next={next_url}" if next_url else "")
    resp = browser.get(path)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("https://idp.example.test/sso?")
    params = query(location)
    assert params["SigAlg"] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" and params["Signature"]
    return browser, authn_request_id(location)


def post_acs(browser, xml: bytes | str):
    return browser.post("/api/v1/auth/saml/acme/acs", data={"SAMLResponse": encode(xml), "RelayState": ""})


def assert_refused(resp, code: str) -> None:
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    assert query(resp.headers["Location"]) == {"error": code}, resp.headers["Location"]
    assert "authy2_session" not in resp.headers.get("Set-Cookie", "")


def assert_signed_in(app, resp, email: str) -> None:
    assert resp.status_code == 302
    cookies = resp.headers.getlist("Set-Cookie")
    token = next(c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("authy2_session="))
    me = app.test_client().get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert assert_envelope(me, 200)["data"]["user"]["email"] == email
    sessions = app.test_client().get("/api/v1/auth/sessions", headers={"Authorization": f"Bearer {token}"})
    assert [s["auth_method"] for s in sessions.get_json()["data"]["sessions"]] == ["saml"]


def test_sp_initiated_login_provisions_member_just_in_time(app, sp, idp):
    browser, request_id = start_login(app, next_url=sp.frontend + "/welcome")
    xml = idp.signed_response(
        acs=sp.acs,
        audience=sp.entity_id,
        in_response_to=request_id,
        name_id="new.hire@acme.example",
        attributes={"displayName": "New Hire"},
    )
    resp = post_acs(browser, xml)
    assert resp.headers["Location"] == sp.frontend + "/welcome"
    assert_signed_in(app, resp, "new.hire@acme.example")
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == "new.hire@acme.example")).scalar_one()
        assert user.password_hash is None
        membership = db.session.execute(select(Membership).where(Membership.user_id == user.id)).scalar_one()
        assert str(membership.organization_id) == sp.org_id and membership.role.value == "member"
        identity = db.session.execute(
            select(ExternalIdentity).where(ExternalIdentity.user_id == user.id)
        ).scalar_one()
        assert identity.provider.startswith("saml:") and identity.subject == "new.hire@acme.example"
        actions = [r.action for r in db.session.execute(select(AuditLog).order_by(AuditLog.id)).scalars()]
        db.session.remove()
    for action in ("user.registered", "identity.linked", "org.member_added", "auth.sso.login"):
        assert action in actions


def test_existing_member_is_linked(app, sp, idp, auth):
    member = auth.register(email="alice@acme.example")
    add_member(app, sp.org_id, member["id"])
    browser, request_id = start_login(app)
    xml = idp.signed_response(
        acs=sp.acs, audience=sp.entity_id, in_response_to=request_id, name_id="alice@acme.example"
    )
    resp = post_acs(browser, xml)
    assert resp.headers["Location"] == sp.frontend
    assert_signed_in(app, resp, "alice@acme.example")


def test_existing_account_outside_the_org_is_not_taken_over(app, sp, idp, auth):
    auth.register(email="bob@acme.example")
    browser, request_id = start_login(app)
    xml = idp.signed_response(
        acs=sp.acs, audience=sp.entity_id, in_response_to=request_id, name_id="bob@acme.example"
    )
    assert_refused(post_acs(browser, xml), "account_exists")


def test_email_outside_connection_domains_is_refused(app, sp, idp):
    browser, request_id = start_login(app)
    xml = idp.signed_response(
        acs=sp.acs, audience=sp.entity_id, in_response_to=request_id, name_id="ceo@other.example"
    )
    assert_refused(post_acs(browser, xml), "domain_not_allowed")


def test_unsigned_assertion_is_refused(app, sp, idp):
    browser, request_id = start_login(app)
    assertion = strip_placeholder(
        idp.assertion(
            name_id="x@acme.example", audience=sp.entity_id, recipient=sp.acs, in_response_to=request_id
        )
    )
    xml = etree.tostring(idp.response(assertion, destination=sp.acs, in_response_to=request_id))
    assert_refused(post_acs(browser, xml), "invalid_response")


def test_signed_response_with_unsigned_assertion_is_refused(app, sp, idp):
    """Only the message is signed: the assertion itself must carry the IdP's signature."""
    browser, request_id = start_login(app)
    assertion = strip_placeholder(
        idp.assertion(
            name_id="x@acme.example", audience=sp.entity_id, recipient=sp.acs, in_response_to=request_id
        )
    )
    response = idp.response(
        assertion, destination=sp.acs, in_response_to=request_id, signature_placeholder=True
    )
    signed = idp.sign(response)
    assert signed.find("ds:Signature", NS) is not None
    assert_refused(post_acs(browser, etree.tostring(signed)), "invalid_response")


def test_assertion_signed_by_another_key_is_refused(app, sp, idp):
    browser, request_id = start_login(app)
    key, cert = make_keypair("Mallory IdP")
    assertion = idp.sign(
        idp.assertion(
            name_id="x@acme.example", audience=sp.entity_id, recipient=sp.acs, in_response_to=request_id
        ),
        key=key,
        cert=cert,
    )
    xml = etree.tostring(idp.response(assertion, destination=sp.acs, in_response_to=request_id))
    assert_refused(post_acs(browser, xml), "invalid_response")


def test_tampered_signed_assertion_is_refused(app, sp, idp):
    browser, request_id = start_login(app)
    assertion = idp.sign(
        idp.assertion(
            name_id="intern@acme.example", audience=sp.entity_id, recipient=sp.acs, in_response_to=request_id
        )
    )
    assertion.find(".//saml:NameID", NS).text = "ceo@acme.example"
    xml = etree.tostring(idp.response(assertion, destination=sp.acs, in_response_to=request_id))
    assert_refused(post_acs(browser, xml), "invalid_response")


def test_signature_wrapping_with_two_assertions_is_refused(app, sp, idp, auth):
    victim = auth.register(email="ceo@acme.example")
    add_member(app, sp.org_id, victim["id"])
    browser, request_id = start_login(app)
    signed = idp.sign(
        idp.assertion(
            name_id="intern@acme.example", audience=sp.entity_id, recipient=sp.acs, in_response_to=request_id
        )
    )
    evil = strip_placeholder(
        idp.assertion(
            name_id="ceo@acme.example", audience=sp.entity_id, recipient=sp.acs, in_response_to=request_id
        )
    )
    response = idp.response(evil, destination=sp.acs, in_response_to=request_id)
    response.append(signed)
    assert_refused(post_acs(browser, etree.tostring(response)), "invalid_response")


def test_signature_wrapping_with_signed_assertion_hidden_inside_evil_one_is_refused(app, sp, idp, auth):
    """XSW: the evil assertion carries the real signature, whose signed assertion hides in ds:Object."""
    victim = auth.register(email="ceo@acme.example")
    add_member(app, sp.org_id, victim["id"])
    browser, request_id = start_login(app)
    signed = idp.sign(
        idp.assertion(
            name_id="intern@acme.example", audience=sp.entity_id, recipient=sp.acs, in_response_to=request_id
        )
    )
    evil = copy.deepcopy(signed)
    evil.set("ID", "_evil" + uuid.uuid4().hex)
    evil.find(".//saml:NameID", NS).text = "ceo@acme.example"
    signature = evil.find("ds:Signature", NS)
    hidden = etree.SubElement(signature, f"{{{DS}}}Object")
    original = copy.deepcopy(signed)
    original.remove(original.find("ds:Signature", NS))
    hidden.append(original)
    xml = etree.tostring(idp.response(evil, destination=sp.acs, in_response_to=request_id))
    assert_refused(post_acs(browser, xml), "invalid_response")


def test_comment_injection_in_nameid_reads_the_whole_value(app, sp, idp, auth):
    """A comment inside NameID does not break the signature (c14n drops it) and must not truncate it."""
    victim = auth.register(email="ceo@acme.example")
    add_member(app, sp.org_id, victim["id"])
    browser, request_id = start_login(app)
    signed = idp.sign(
        idp.assertion(
            name_id="ceo@acme.example.attacker.example",
            audience=sp.entity_id,
            recipient=sp.acs,
            in_response_to=request_id,
        )
    )
    xml = etree.tostring(idp.response(signed, destination=sp.acs, in_response_to=request_id)).decode()
    injected = xml.replace("ceo@acme.example.attacker.example", "ceo@acme.example<!---->.attacker.example")
    assert injected != xml
    # The whole address is read, and it is outside the connection's domains: no session for the CEO.
    assert_refused(post_acs(browser, injected), "domain_not_allowed")


@pytest.mark.parametrize(
    ("override", "where"),
    [
        ({"audience": "https://other-sp.example/metadata"}, "audience"),
        ({"recipient": "https://other-sp.example/acs"}, "recipient"),
        ({"destination": "https://other-sp.example/acs"}, "destination"),
        ({"issuer": "https://other-idp.example/saml"}, "issuer"),
    ],
)
def test_wrong_audience_recipient_destination_or_issuer_is_refused(app, sp, idp, override, where):
    browser, request_id = start_login(app)
    assertion = idp.sign(
        idp.assertion(
            name_id="x@acme.example",
            audience=override.get("audience", sp.entity_id),
            recipient=override.get("recipient", sp.acs),
            in_response_to=request_id,
            issuer=override.get("issuer"),
        )
    )
    response = idp.response(
        assertion,
        destination=override.get("destination", sp.acs),
        in_response_to=request_id,
        issuer=override.get("issuer"),
    )
    assert_refused(post_acs(browser, etree.tostring(response)), "invalid_response")


def test_expired_assertion_is_refused(app, sp, idp):
    browser, request_id = start_login(app)
    xml = idp.signed_response(
        acs=sp.acs,
        audience=sp.entity_id,
        in_response_to=request_id,
        name_id="late@acme.example",
        issued_offset=-3600,
        lifetime=300,
    )
    assert_refused(post_acs(browser, xml), "invalid_response")


def test_replayed_response_is_refused(app, sp, idp):
    browser, request_id = start_login(app)
    xml = idp.signed_response(
        acs=sp.acs, audience=sp.entity_id, in_response_to=request_id, name_id="r@acme.example"
    )
    assert_signed_in(app, post_acs(browser, xml), "r@acme.example")
    assert_refused(post_acs(app.test_client(), xml), "unknown_request")


def test_response_to_unknown_request_is_refused(app, sp, idp):
    start_login(app)
    xml = idp.signed_response(
        acs=sp.acs, audience=sp.entity_id, in_response_to="_never-sent", name_id="u@acme.example"
    )
    assert_refused(post_acs(app.test_client(), xml), "unknown_request")


def test_mismatched_in_response_to_is_refused(app, sp, idp):
    """The Response answers our request but the assertion inside claims another one."""
    browser, request_id = start_login(app)
    assertion = idp.sign(
        idp.assertion(
            name_id="m@acme.example", audience=sp.entity_id, recipient=sp.acs, in_response_to="_other"
        )
    )
    xml = etree.tostring(idp.response(assertion, destination=sp.acs, in_response_to=request_id))
    assert_refused(post_acs(browser, xml), "invalid_response")


def test_unsolicited_response_is_refused_unless_allowed(app, client, sp, idp):
    xml = idp.signed_response(
        acs=sp.acs, audience=sp.entity_id, in_response_to=None, name_id="idp@acme.example"
    )
    assert_refused(post_acs(app.test_client(), xml), "unsolicited_response")
    # The admin allows IdP-initiated sign-in: then the same kind of response works once.
    resp = client.put(
        f"/api/v1/organizations/{sp.org_id}/sso",
        json={
            "type": "saml",
            "idp_metadata_xml": idp.metadata(),
            "email_domains": ["acme.example"],
            "allow_idp_initiated": True,
        },
        headers=sp.admin["headers"],
    )
    assert_envelope(resp, 200)
    xml = idp.signed_response(
        acs=sp.acs, audience=sp.entity_id, in_response_to=None, name_id="idp@acme.example"
    )
    assert_signed_in(app, post_acs(app.test_client(), xml), "idp@acme.example")
    # Replaying it is caught by the assertion-id cache.
    assert_refused(post_acs(app.test_client(), xml), "replayed_assertion")


def test_xxe_payload_is_refused(app, sp, idp):
    browser, request_id = start_login(app)
    xml = idp.signed_response(
        acs=sp.acs, audience=sp.entity_id, in_response_to=request_id, name_id="x@acme.example"
    )
    evil = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + xml.replace(
        b"x@acme.example", b"&xxe;"
    )
    resp = post_acs(browser, evil)
    assert_refused(resp, "invalid_response")
    assert b"root:" not in resp.data


def test_entity_expansion_payload_is_refused(app, sp, idp):
    browser, request_id = start_login(app)
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    xml = idp.signed_response(
        acs=sp.acs, audience=sp.entity_id, in_response_to=request_id, name_id="x@acme.example"
    )
    evil = f'<?xml version="1.0"?><!DOCTYPE r [{entities}]>'.encode() + xml.replace(b"x@acme.example", b"&i;")
    assert_refused(post_acs(browser, evil), "invalid_response")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"SAMLResponse": ""},
        {"SAMLResponse": "%%%not-base64"},
        {"SAMLResponse": encode(b"<notxml")},
        {"SAMLResponse": encode(b"\x00\xff\xfe")},
        {"SAMLResponse": "A" * 600_000},
    ],
)
def test_garbage_acs_input_lands_on_frontend_with_error(app, sp, payload):
    resp = app.test_client().post("/api/v1/auth/saml/acme/acs", data=payload)
    assert resp.status_code in (302, 413)
    if resp.status_code == 302:
        assert query(resp.headers["Location"]) == {"error": "invalid_response"}


def test_failures_are_audited(app, sp, idp):
    xml = idp.signed_response(
        acs=sp.acs, audience=sp.entity_id, in_response_to=None, name_id="a@acme.example"
    )
    post_acs(app.test_client(), xml)
    with app.app_context():
        row = (
            db.session.execute(
                select(AuditLog).where(AuditLog.action == "auth.external.failed").order_by(AuditLog.id.desc())
            )
            .scalars()
            .first()
        )
        assert row.details["reason"] == "unsolicited_response" and row.details["provider"].startswith("saml:")
        assert str(row.organization_id) == sp.org_id
        db.session.remove()

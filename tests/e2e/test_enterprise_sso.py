"""Enterprise SSO over real HTTP: an org admin configures SAML and OIDC connections on gunicorn,
then members sign in through a signxml-signed SAML response and a local OIDC provider."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models.organization import Membership
from app.models.user import User
from tests.e2e.conftest import LiveServer, free_port, server_env
from tests.helpers import DEFAULT_PASSWORD
from tests.providers import FakeOIDCProvider
from tests.saml_idp import TestIdP, encode
from tests.sso_helpers import authn_request_id, make_org, query

pytestmark = pytest.mark.e2e

FRONTEND = "http://frontend.example.test:3000"


class Env:
    """The server, the IdPs and an org admin's bearer headers."""

    def __init__(self, server: LiveServer, idp: TestIdP, oidc: FakeOIDCProvider) -> None:
        self.server = server
        self.api = server.url + "/api/v1"
        self.idp = idp
        self.oidc = oidc
        self.admin_headers: dict[str, str] = {}


@pytest.fixture(scope="module")
def env(app) -> Iterator[Env]:
    idp = TestIdP()
    oidc = FakeOIDCProvider("globex-client", "globex-secret")
    port = free_port()
    server = LiveServer(
        server_env(PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", FRONTEND_URL=FRONTEND), port=port
    )
    yield Env(server, idp, oidc)
    server.stop()
    oidc.stop()


def browser() -> requests.Session:
    session = requests.Session()
    session.request = functools.partial(session.request, timeout=10)  # type: ignore[method-assign]
    return session


@pytest.fixture
def admin(env: Env, app) -> dict[str, Any]:
    """A registered org admin of `acme` (SAML) and `globex` (OIDC), with configured connections."""
    resp = requests.post(
        f"{env.api}/auth/register",
        json={"email": "admin@corp.example", "password": DEFAULT_PASSWORD},
        timeout=10,
    )
    user_id = resp.json()["data"]["user"]["id"]
    login = requests.post(
        f"{env.api}/auth/login",
        json={"email": "admin@corp.example", "password": DEFAULT_PASSWORD},
        timeout=10,
    ).json()
    headers = {"Authorization": f"Bearer {login['data']['session']['token']}"}
    acme = make_org(app, "acme", {user_id: "admin"})
    globex = make_org(app, "globex", {user_id: "owner"})
    saml = requests.put(
        f"{env.api}/organizations/{acme}/sso",
        json={"type": "saml", "idp_metadata_xml": env.idp.metadata(), "email_domains": ["acme.example"]},
        headers=headers,
        timeout=10,
    )
    assert saml.status_code == 200, saml.text
    oidc = requests.put(
        f"{env.api}/organizations/{globex}/sso",
        json={
            "type": "oidc",
            "issuer": env.oidc.issuer_template,
            "discovery_url": env.oidc.discovery_url,
            "client_id": "globex-client",
            "client_secret": "globex-secret",
            "email_domains": ["globex.example"],
            "default_role": "admin",
            "attribute_mapping": {"email": "mail"},
        },
        headers=headers,
        timeout=10,
    )
    assert oidc.status_code == 200, oidc.text
    assert "globex-secret" not in oidc.text
    env.oidc.reset()
    return {"headers": headers, "acme": acme, "globex": globex, "oidc": oidc.json()["data"]["connection"]}


def test_saml_sign_in_over_http_lands_on_frontend_with_session(env, admin, app):
    found = requests.post(
        f"{env.api}/auth/sso/discover", json={"email": "dana@acme.example"}, timeout=10
    ).json()
    assert found["data"]["type"] == "saml"
    metadata = requests.get(f"{env.api}/auth/saml/acme/metadata", timeout=10)
    assert metadata.status_code == 200 and b"AssertionConsumerService" in metadata.content

    person = browser()
    start = person.get(found["data"]["login_url"] + "?next=" + FRONTEND + "/home", allow_redirects=False)
    assert start.status_code == 302 and start.headers["Location"].startswith(env.idp.sso_url)
    request_id = authn_request_id(start.headers["Location"])
    acs = env.server.url + "/api/v1/auth/saml/acme/acs"
    xml = env.idp.signed_response(
        acs=acs,
        audience=env.server.url + "/api/v1/auth/saml/acme/metadata",
        in_response_to=request_id,
        name_id="dana@acme.example",
    )
    done = person.post(acs, data={"SAMLResponse": encode(xml)}, allow_redirects=False)
    assert done.status_code == 302 and done.headers["Location"] == FRONTEND + "/home"
    me = person.get(f"{env.api}/auth/me").json()
    assert me["data"]["user"]["email"] == "dana@acme.example"
    # The same response posted again is refused.
    again = browser().post(acs, data={"SAMLResponse": encode(xml)}, allow_redirects=False)
    assert query(again.headers["Location"]) == {"error": "unknown_request"}


def _follow(person: requests.Session, url: str) -> str:
    for _ in range(6):
        resp = person.get(url, allow_redirects=False)
        assert resp.status_code == 302, resp.text[:300]
        url = resp.headers["Location"]
        if url.startswith(FRONTEND):
            return url
    raise AssertionError("too many redirects")


def test_oidc_sign_in_over_http_provisions_admin_member(env, admin, app):
    env.oidc.claims = {"sub": "globex-42", "mail": "erin@globex.example", "name": "Erin"}
    found = requests.post(
        f"{env.api}/auth/sso/discover", json={"email": "erin@globex.example"}, timeout=10
    ).json()
    assert found["data"]["type"] == "oidc"
    person = browser()
    landing = _follow(person, found["data"]["login_url"])
    assert landing == FRONTEND
    sent = env.oidc.authorize_requests[-1]
    assert sent["nonce"] and sent["code_challenge_method"] == "S256"
    assert sent["redirect_uri"] == admin["oidc"]["oidc"]["redirect_uri"]
    me = person.get(f"{env.api}/auth/me").json()
    assert me["data"]["user"]["email"] == "erin@globex.example"
    sessions = person.get(f"{env.api}/auth/sessions").json()["data"]["sessions"]
    assert [s["auth_method"] for s in sessions] == ["oidc"]
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == "erin@globex.example")).scalar_one()
        role = db.session.execute(select(Membership.role).where(Membership.user_id == user.id)).scalar_one()
        db.session.remove()
    assert role.value == "admin"


def test_oidc_connection_refuses_wrong_nonce_and_foreign_domain(env, admin):
    env.oidc.claims = {"sub": "globex-43", "mail": "frank@globex.example"}
    env.oidc.nonce_override = "replayed-nonce"
    assert query(_follow(browser(), f"{env.api}/auth/oidc/globex/login")) == {"error": "invalid_token"}
    env.oidc.reset()
    env.oidc.claims = {"sub": "globex-44", "mail": "mallory@acme.example"}
    assert query(_follow(browser(), f"{env.api}/auth/oidc/globex/login")) == {"error": "domain_not_allowed"}


def test_oidc_connection_with_wrong_issuer_is_refused(env, admin):
    resp = requests.put(
        f"{env.api}/organizations/{admin['globex']}/sso",
        json={
            "type": "oidc",
            "issuer": "https://not-the-issuer.example",
            "discovery_url": env.oidc.discovery_url,
            "client_id": "globex-client",
            "email_domains": ["globex.example"],
        },
        headers=admin["headers"],
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    env.oidc.claims = {"sub": "globex-45", "email": "gina@globex.example"}
    person = browser()
    first = person.get(f"{env.api}/auth/oidc/globex/login", allow_redirects=False)
    assert first.status_code == 302
    assert query(_follow(person, first.headers["Location"])) == {"error": "provider_error"}

"""Social login over real HTTP: gunicorn + local Google/Microsoft-shaped OIDC providers and a GitHub fake.

Every browser hop is a real request; redirects are followed by hand until the browser would land
on FRONTEND_URL (which is not served here).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models.audit import AuditLog
from app.models.identity import ExternalIdentity
from app.models.user import User
from tests.e2e.conftest import LiveServer, free_port, server_env
from tests.helpers import DEFAULT_PASSWORD
from tests.providers import FakeGitHub, FakeOIDCProvider

pytestmark = pytest.mark.e2e

FRONTEND = "http://frontend.example.test:3000/app"
MS_TENANT_A = "11111111-1111-1111-1111-111111111111"
MS_TENANT_B = "22222222-2222-2222-2222-222222222222"


class Federation:
    """The live server and its three providers."""

    def __init__(
        self, server: LiveServer, google: FakeOIDCProvider, microsoft: FakeOIDCProvider, github: FakeGitHub
    ):
        self.server = server
        self.google = google
        self.microsoft = microsoft
        self.github = github
        self.api = server.url + "/api/v1"


@pytest.fixture(scope="module")
def fed(app) -> Iterator[Federation]:
    """gunicorn configured with all three providers pointing at local fakes."""
    google = FakeOIDCProvider("google-client", "google-secret")
    microsoft = FakeOIDCProvider("ms-client", "ms-secret", issuer_path="/{tenantid}/v2.0")
    github = FakeGitHub("gh-client", "gh-secret")
    port = free_port()
    env = server_env(
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        FRONTEND_URL=FRONTEND,
        GOOGLE_CLIENT_ID="google-client",
        GOOGLE_CLIENT_SECRET="google-secret",
        GOOGLE_DISCOVERY_URL=google.discovery_url,
        MICROSOFT_CLIENT_ID="ms-client",
        MICROSOFT_CLIENT_SECRET="ms-secret",
        MICROSOFT_DISCOVERY_URL=microsoft.discovery_url,
        GITHUB_CLIENT_ID="gh-client",
        GITHUB_CLIENT_SECRET="gh-secret",
        GITHUB_AUTHORIZE_URL=github.url + "/login/oauth/authorize",
        GITHUB_TOKEN_URL=github.url + "/login/oauth/access_token",
        GITHUB_API_BASE_URL=github.url + "/",
    )
    server = LiveServer(env, port=port)
    yield Federation(server, google, microsoft, github)
    server.stop()
    for provider in (google, microsoft, github):
        provider.stop()


@pytest.fixture(autouse=True)
def _reset_providers(request: pytest.FixtureRequest) -> None:
    if "fed" in request.fixturenames:
        fed: Federation = request.getfixturevalue("fed")
        for provider in (fed.google, fed.microsoft, fed.github):
            provider.reset()


def new_browser() -> requests.Session:
    browser = requests.Session()
    browser.request = functools.partial(browser.request, timeout=10)  # type: ignore[method-assign]
    return browser


def follow(browser: requests.Session, url: str, limit: int = 10) -> tuple[str, list[requests.Response]]:
    """Follow 302s by hand until one points at FRONTEND_URL; return that URL and every response."""
    hops: list[requests.Response] = []
    for _ in range(limit):
        resp = browser.get(url, allow_redirects=False)
        hops.append(resp)
        assert resp.status_code == 302, (resp.status_code, resp.text[:500])
        url = resp.headers["Location"]
        if url.startswith("http://frontend.example.test"):
            return url, hops
    raise AssertionError("too many redirects")


def login_url(fed: Federation, provider: str, **params: str) -> str:
    return f"{fed.api}/auth/external/{provider}/login" + (("?" + urlencode(params)) if params else "")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def me(browser: requests.Session, fed: Federation) -> requests.Response:
    return browser.get(f"{fed.api}/auth/me")


def register(fed: Federation, email: str) -> None:
    resp = requests.post(
        f"{fed.api}/auth/register", json={"email": email, "password": DEFAULT_PASSWORD}, timeout=10
    )
    assert resp.status_code == 201, resp.text


def identities_of(app, email: str) -> list[ExternalIdentity]:
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == email)).scalar_one()
        rows = list(
            db.session.execute(select(ExternalIdentity).where(ExternalIdentity.user_id == user.id)).scalars()
        )
        db.session.remove()
    return rows


def actions(app) -> list[tuple[str, dict[str, Any]]]:
    with app.app_context():
        rows = [
            (r.action, r.details)
            for r in db.session.execute(select(AuditLog).order_by(AuditLog.id)).scalars()
        ]
        db.session.remove()
    return rows


# ----------------------------------------------------------------------------------------- Google


def test_google_login_creates_user_and_session_and_lands_on_next(fed, app):
    fed.google.claims = {"sub": "g-1001", "email": "ada@gmail.example", "email_verified": True, "name": "Ada"}
    browser = new_browser()
    landing, hops = follow(browser, login_url(fed, "google", next=FRONTEND + "/dashboard?tab=1"))
    assert landing == FRONTEND + "/dashboard?tab=1"

    # The first hop went to the provider with state, nonce and PKCE S256.
    sent = fed.google.authorize_requests[-1]
    assert sent["state"] and sent["nonce"] and sent["code_challenge_method"] == "S256"
    assert len(sent["code_challenge"]) >= 43
    assert sent["redirect_uri"] == fed.server.url + "/api/v1/auth/external/google/callback"
    assert hops[0].headers["Location"].startswith(fed.google.url + "/authorize?")
    # Flask's session cookie that carries the state is HttpOnly and SameSite=Lax.
    set_cookie = hops[0].headers["Set-Cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie

    body = me(browser, fed).json()
    assert body["success"] is True and body["data"]["user"]["email"] == "ada@gmail.example"
    assert body["data"]["user"]["email_verified"] is True and body["data"]["user"]["has_password"] is False
    sessions = browser.get(f"{fed.api}/auth/sessions").json()["data"]["sessions"]
    assert [s["auth_method"] for s in sessions] == ["google"]
    [identity] = identities_of(app, "ada@gmail.example")
    assert (identity.provider, identity.subject) == ("google", "g-1001")
    names = [a for a, _ in actions(app)]
    assert "auth.external.login" in names and "identity.linked" in names and "auth.login.succeeded" in names

    # Signing in again finds the same identity (by subject), even if the email changed at Google.
    fed.google.claims = {"sub": "g-1001", "email": "ada.new@gmail.example", "email_verified": True}
    browser2 = new_browser()
    follow(browser2, login_url(fed, "google"))
    assert me(browser2, fed).json()["data"]["user"]["email"] == "ada@gmail.example"


def test_next_outside_frontend_is_replaced_by_frontend_url(fed):
    fed.google.claims = {"sub": "g-next", "email": "next@gmail.example", "email_verified": True}
    for evil in (
        "https://evil.example/steal",
        "//evil.example/",
        "http://frontend.example.test:3000.evil/app",
        "http://frontend.example.test:3000/application",
        "javascript:alert(1)",
    ):
        landing, _ = follow(new_browser(), login_url(fed, "google", next=evil))
        assert landing == FRONTEND, evil


def test_google_verified_email_links_existing_account(fed, app):
    register(fed, "grace@corp.example")
    fed.google.claims = {"sub": "g-2002", "email": "Grace@corp.example", "email_verified": True}
    browser = new_browser()
    landing, _ = follow(browser, login_url(fed, "google"))
    assert landing == FRONTEND
    assert me(browser, fed).json()["data"]["user"]["email"] == "grace@corp.example"
    [identity] = identities_of(app, "grace@corp.example")
    assert identity.subject == "g-2002"
    linked = [d for a, d in actions(app) if a == "identity.linked"]
    assert linked[-1] == {"provider": "google", "reason": "verified_email"}
    # The unverified local password (whoever set it never proved the address) no longer works.
    resp = requests.post(
        f"{fed.api}/auth/login",
        json={"email": "grace@corp.example", "password": DEFAULT_PASSWORD},
        timeout=10,
    )
    assert resp.status_code == 401


def test_google_unverified_email_does_not_take_over_existing_account(fed, app):
    register(fed, "victim@corp.example")
    fed.google.claims = {"sub": "g-evil", "email": "victim@corp.example", "email_verified": False}
    browser = new_browser()
    landing, _ = follow(browser, login_url(fed, "google"))
    assert query(landing) == {"error": "email_not_verified"}
    assert "authy2_session" not in browser.cookies
    assert me(browser, fed).status_code == 401
    assert identities_of(app, "victim@corp.example") == []
    assert ("auth.external.failed", {"provider": "google", "reason": "email_not_verified"}) in actions(app)


def test_state_mismatch_is_refused(fed):
    fed.google.claims = {"sub": "g-state", "email": "state@gmail.example", "email_verified": True}
    browser = new_browser()
    first = browser.get(login_url(fed, "google"), allow_redirects=False)
    at_provider = browser.get(first.headers["Location"], allow_redirects=False)
    callback = at_provider.headers["Location"]
    parts = urlsplit(callback)
    params = query(callback)
    params["state"] = "forged-" + params["state"]
    forged = urlunsplit(parts._replace(query=urlencode(params)))
    resp = browser.get(forged, allow_redirects=False)
    assert resp.status_code == 302
    assert query(resp.headers["Location"]) == {"error": "invalid_state"}
    assert "authy2_session" not in browser.cookies


def test_missing_state_is_refused(fed):
    browser = new_browser()
    browser.get(login_url(fed, "google"), allow_redirects=False)
    resp = browser.get(f"{fed.api}/auth/external/google/callback?code=abc", allow_redirects=False)
    assert resp.status_code == 302
    assert resp.headers["Location"] == FRONTEND + "?error=invalid_state"


def test_callback_from_another_browser_is_refused(fed):
    """Login CSRF: an attacker's callback URL replayed in the victim's browser has no state there."""
    fed.google.claims = {"sub": "g-attacker", "email": "attacker@gmail.example", "email_verified": True}
    attacker = new_browser()
    first = attacker.get(login_url(fed, "google"), allow_redirects=False)
    callback = attacker.get(first.headers["Location"], allow_redirects=False).headers["Location"]
    victim = new_browser()
    resp = victim.get(callback, allow_redirects=False)
    assert query(resp.headers["Location"]) == {"error": "invalid_state"}
    assert "authy2_session" not in victim.cookies


def test_callback_replay_is_refused(fed):
    fed.google.claims = {"sub": "g-replay", "email": "replay@gmail.example", "email_verified": True}
    browser = new_browser()
    first = browser.get(login_url(fed, "google"), allow_redirects=False)
    callback = browser.get(first.headers["Location"], allow_redirects=False).headers["Location"]
    ok = browser.get(callback, allow_redirects=False)
    assert ok.headers["Location"] == FRONTEND
    again = browser.get(callback, allow_redirects=False)
    assert query(again.headers["Location"]) == {"error": "invalid_state"}


def test_nonce_mismatch_is_refused(fed, app):
    fed.google.claims = {"sub": "g-nonce", "email": "nonce@gmail.example", "email_verified": True}
    fed.google.nonce_override = "not-the-nonce-we-sent"
    browser = new_browser()
    landing, _ = follow(browser, login_url(fed, "google"))
    assert query(landing) == {"error": "invalid_token"}
    assert "authy2_session" not in browser.cookies
    with app.app_context():
        assert db.session.execute(select(User).where(User.email == "nonce@gmail.example")).first() is None
        db.session.remove()


def test_missing_id_token_is_refused(fed):
    fed.google.claims = {"sub": "g-noid", "email": "noid@gmail.example", "email_verified": True}
    fed.google.omit_id_token = True
    landing, _ = follow(new_browser(), login_url(fed, "google"))
    assert query(landing) == {"error": "invalid_token"}


def test_denied_consent_lands_on_frontend_with_error(fed):
    fed.google.deny = True
    landing, _ = follow(new_browser(), login_url(fed, "google"))
    assert landing == FRONTEND + "?error=access_denied"


def test_forged_code_is_a_provider_error_not_a_500(fed):
    browser = new_browser()
    first = browser.get(login_url(fed, "google"), allow_redirects=False)
    state = query(first.headers["Location"])["state"]
    resp = browser.get(
        f"{fed.api}/auth/external/google/callback?code=forged&state={state}", allow_redirects=False
    )
    assert query(resp.headers["Location"]) == {"error": "provider_error"}


# -------------------------------------------------------------------------------------- Microsoft


def test_microsoft_subject_is_tenant_and_object_id(fed, app):
    fed.microsoft.claims = {
        "sub": "pairwise-1",
        "tid": MS_TENANT_A,
        "oid": "oid-1",
        "email": "linus@contoso.example",
    }
    browser = new_browser()
    landing, _ = follow(browser, login_url(fed, "microsoft"))
    assert landing == FRONTEND
    assert me(browser, fed).json()["data"]["user"]["email"] == "linus@contoso.example"
    [identity] = identities_of(app, "linus@contoso.example")
    assert (identity.provider, identity.subject) == ("microsoft", f"{MS_TENANT_A}:oid-1")
    assert identity.email_verified is False


def test_microsoft_email_claim_from_another_tenant_cannot_take_over_account(fed, app):
    register(fed, "ceo@contoso.example")
    # Tenant B's admin sets this user's email to the victim's address; Microsoft does not verify it.
    fed.microsoft.claims = {"sub": "x", "tid": MS_TENANT_B, "oid": "oid-evil", "email": "ceo@contoso.example"}
    browser = new_browser()
    landing, _ = follow(browser, login_url(fed, "microsoft"))
    assert query(landing) == {"error": "email_not_verified"}
    assert identities_of(app, "ceo@contoso.example") == []
    # With the domain-owner-verified claim, Microsoft vouches for the address and linking is allowed.
    fed.microsoft.claims = {
        "sub": "y",
        "tid": MS_TENANT_A,
        "oid": "oid-ceo",
        "email": "ceo@contoso.example",
        "xms_edov": True,
    }
    landing, _ = follow(browser, login_url(fed, "microsoft"))
    assert landing == FRONTEND
    assert [i.subject for i in identities_of(app, "ceo@contoso.example")] == [f"{MS_TENANT_A}:oid-ceo"]


def test_microsoft_token_without_tenant_is_refused(fed):
    fed.microsoft.claims = {"sub": "no-tid", "oid": "oid-x", "email": "x@contoso.example"}
    landing, _ = follow(new_browser(), login_url(fed, "microsoft"))
    assert query(landing) == {"error": "invalid_token"}


# ----------------------------------------------------------------------------------------- GitHub


def test_github_primary_verified_email_signs_in_and_links(fed, app):
    register(fed, "octo@corp.example")
    fed.github.user_doc = {"id": 4242, "login": "octocat", "name": "Octo Cat"}
    fed.github.email_docs = [
        {"email": "other@corp.example", "primary": False, "verified": True},
        {"email": "octo@corp.example", "primary": True, "verified": True},
    ]
    browser = new_browser()
    landing, _ = follow(browser, login_url(fed, "github", next=FRONTEND + "/x"))
    assert landing == FRONTEND + "/x"
    assert me(browser, fed).json()["data"]["user"]["email"] == "octo@corp.example"
    assert [(i.provider, i.subject) for i in identities_of(app, "octo@corp.example")] == [("github", "4242")]
    assert fed.github.authorize_requests[-1]["code_challenge_method"] == "S256"
    sessions = browser.get(f"{fed.api}/auth/sessions").json()["data"]["sessions"]
    assert [s["auth_method"] for s in sessions] == ["github"]


def test_github_unverified_primary_email_does_not_link(fed, app):
    register(fed, "target@corp.example")
    fed.github.user_doc = {"id": 777, "login": "mallory"}
    fed.github.email_docs = [
        {"email": "target@corp.example", "primary": True, "verified": False},
        {"email": "mallory@evil.example", "primary": False, "verified": True},
    ]
    browser = new_browser()
    landing, _ = follow(browser, login_url(fed, "github"))
    assert query(landing) == {"error": "email_not_verified"}
    assert identities_of(app, "target@corp.example") == []


def test_github_denied_consent(fed):
    fed.github.deny = True
    landing, _ = follow(new_browser(), login_url(fed, "github"))
    assert landing == FRONTEND + "?error=access_denied"


def test_signed_in_user_links_github_then_cannot_unlink_last_way_in(fed, app):
    # A password-less Google user links GitHub, then unlinks one of the two (allowed) but not the last.
    fed.google.claims = {"sub": "g-link", "email": "linker@gmail.example", "email_verified": True}
    browser = new_browser()
    follow(browser, login_url(fed, "google"))
    fed.github.user_doc = {"id": 9001, "login": "linker"}
    fed.github.email_docs = [{"email": "someone-else@corp.example", "primary": True, "verified": True}]
    landing, _ = follow(browser, login_url(fed, "github", link="1"))
    assert landing == FRONTEND + "?linked=github"
    listed = browser.get(f"{fed.api}/users/me/identities").json()["data"]["identities"]
    assert sorted(i["provider"] for i in listed) == ["github", "google"]
    csrf = {"X-CSRF-Token": browser.cookies["csrf_token"]}
    gh = next(i for i in listed if i["provider"] == "github")
    google = next(i for i in listed if i["provider"] == "google")
    assert browser.delete(f"{fed.api}/users/me/identities/{gh['id']}", headers=csrf).status_code == 200
    last = browser.delete(f"{fed.api}/users/me/identities/{google['id']}", headers=csrf)
    assert last.status_code == 409 and last.json()["error"]["type"] == "CONFLICT"
    names = [a for a, _ in actions(app)]
    assert "identity.unlinked" in names


def test_link_without_session_is_401(fed):
    resp = new_browser().get(login_url(fed, "github", link="1"), allow_redirects=False)
    assert resp.status_code == 401 and resp.json()["error"]["type"] == "AUTHENTICATION_ERROR"


def test_providers_listing(fed):
    body = requests.get(f"{fed.api}/auth/external/providers", timeout=10).json()
    assert body["data"]["providers"] == ["google", "github", "microsoft"]


def test_github_forged_code_and_broken_api_are_provider_errors(fed):
    browser = new_browser()
    first = browser.get(login_url(fed, "github"), allow_redirects=False)
    state = query(first.headers["Location"])["state"]
    resp = browser.get(
        f"{fed.api}/auth/external/github/callback?code=forged&state={state}", allow_redirects=False
    )
    assert query(resp.headers["Location"]) == {"error": "provider_error"}
    # A user document without a numeric id (or an API that misbehaves) is refused, not a 500.
    fed.github.user_doc = {"login": "no-id"}
    fed.github.email_docs = [{"email": "noid@corp.example", "primary": True, "verified": True}]
    landing, _ = follow(new_browser(), login_url(fed, "github"))
    assert query(landing) == {"error": "provider_error"}


def test_github_account_without_any_email_is_refused(fed):
    fed.github.user_doc = {"id": 31337, "login": "ghost"}
    fed.github.email_docs = []
    landing, _ = follow(new_browser(), login_url(fed, "github"))
    assert query(landing) == {"error": "email_required"}


def test_linking_an_identity_owned_by_another_account_is_refused(fed, app):
    fed.google.claims = {"sub": "g-owned", "email": "owner@gmail.example", "email_verified": True}
    follow(new_browser(), login_url(fed, "google"))
    register(fed, "other@corp.example")
    browser = new_browser()
    resp = browser.post(
        f"{fed.api}/auth/login", json={"email": "other@corp.example", "password": DEFAULT_PASSWORD}
    )
    assert resp.status_code == 200
    landing, _ = follow(browser, login_url(fed, "google", link="1"))
    assert query(landing) == {"error": "identity_in_use"}
    assert identities_of(app, "other@corp.example") == []
    assert [i.subject for i in identities_of(app, "owner@gmail.example")] == ["g-owned"]

"""A real browser (Debian chromium via Playwright) completes the provider's login and consent pages."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from jwcrypto import jwk, jwt
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import free_port
from tests.oidc_support import make_client, query_of

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _CallbackHandler(BaseHTTPRequestHandler):
    """The RP's redirect endpoint: records what arrives and answers a tiny page."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.hits.append(self.path)  # type: ignore[attr-defined]  # set by the fixture
        body = b"<!doctype html><title>RP</title><p>RP callback</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        """Keep the test output quiet."""


@pytest.fixture
def rp_callback() -> Iterator[str]:
    """A real HTTP server on a free loopback port acting as the RP's redirect_uri."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _CallbackHandler)
    server.hits = []  # type: ignore[attr-defined]  # recorded request paths
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/callback"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def chromium() -> Iterator[object]:
    """Debian's chromium (never a downloaded browser build)."""
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def test_browser_completes_login_and_consent(app, oidc_server, seeded, rp_callback, chromium):
    base = oidc_server.url
    # Bob (seeded) signs in to an RP whose redirect_uri is a real local server.
    rp = make_client(app, redirect_uris=[rp_callback])
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    url = (
        base
        + "/oauth2/authorize?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": rp["client_id"],
                "redirect_uri": rp_callback,
                "scope": "openid profile email",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )
    page = chromium.new_page()
    page.goto(url)
    assert page.locator("h1").inner_text().startswith("Sign in")
    page.get_by_label("Email").fill(seeded["email"])
    page.get_by_label("Password").fill("wrong-password-0")
    page.get_by_role("button", name="Sign in").click()
    assert "Invalid email or password" in page.locator("#login-error").inner_text()
    page.get_by_label("Password").fill(seeded["password"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Allow").wait_for()
    assert "wants to access your Authy2 account" in page.locator("h1").inner_text()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(rp_callback + "?**")
    assert page.locator("p").inner_text() == "RP callback"
    q = query_of(page.url)
    assert q["state"] == state and q["iss"] == base and q["code"]

    resp = requests.post(
        base + "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": q["code"],
            "redirect_uri": rp_callback,
            "code_verifier": verifier,
        },
        auth=(rp["client_id"], rp["client_secret"]),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    keys = jwk.JWKSet.from_json(requests.get(base + "/oauth2/jwks", timeout=10).text)
    token = jwt.JWT(jwt=resp.json()["id_token"], key=keys, algs=["RS256"], check_claims={"iss": base})
    claims = json.loads(token.claims)
    assert claims["nonce"] == nonce and claims["email"] == seeded["email"]

    # The browser now holds an Authy2 session: a second request skips login and consent.
    page.goto(url.replace(state, "second-state"))
    page.wait_for_url(rp_callback + "?**")
    assert query_of(page.url)["state"] == "second-state"

"""Independent RP libraries against the live provider with the seeded client (acme-portal-001).

pyoidc (`oic`) and requests-oauthlib drive the flows; jwcrypto, a JOSE library the server does not
use, verifies the ID tokens against the published JWKS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from jwcrypto import jwk, jwt
from oic import rndstr
from oic.oic import Client
from oic.oic.message import AccessTokenResponse, AuthorizationResponse, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD
from requests_oauthlib import OAuth2Session

from tests.interop.user_agent import sign_in_and_consent
from tests.oidc_support import query_of

ROOT = Path(__file__).resolve().parents[2]


def verify_with_jwcrypto(base: str, id_token: str, client_id: str) -> dict[str, Any]:
    """Verify an ID token's RS256 signature against the JWKS and return its claims."""
    keys = jwk.JWKSet.from_json(requests.get(base + "/oauth2/jwks", timeout=10).text)
    token = jwt.JWT(jwt=id_token, key=keys, algs=["RS256"], check_claims={"exp": None, "iss": base})
    claims = json.loads(token.claims)
    assert claims["aud"] in (client_id, [client_id])
    return claims


def oic_client(base: str, seeded: dict[str, Any]) -> Client:
    """A pyoidc RP configured by discovery and the seeded registration."""
    rp = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    rp.provider_config(base)
    rp.store_registration_info(
        RegistrationResponse(
            client_id=seeded["client_id"],
            client_secret=seeded["client_secret"],
            redirect_uris=[seeded["redirect_uri"]],
        )
    )
    rp.redirect_uris = [seeded["redirect_uri"]]
    return rp


def test_oidcc_server_with_pyoidc_rp_code_pkce_userinfo_refresh_revoke_introspect(oidc_server, seeded):
    base = oidc_server.url
    rp = oic_client(base, seeded)
    assert rp.provider_info["issuer"] == base
    state, nonce = rndstr(), rndstr()
    pkce_args, verifier = rp.add_code_challenge()
    assert pkce_args["code_challenge_method"] == "S256"
    request = rp.construct_AuthorizationRequest(
        request_args={
            "client_id": seeded["client_id"],
            "response_type": "code",
            "scope": ["openid", "profile", "email", "offline_access", "organizations"],
            "nonce": nonce,
            "state": state,
            "redirect_uri": seeded["redirect_uri"],
            **pkce_args,
        }
    )
    url = request.request(rp.authorization_endpoint)
    browser = requests.Session()
    callback = sign_in_and_consent(browser, url, seeded["email"], seeded["password"], seeded["redirect_uri"])
    auth = rp.parse_response(AuthorizationResponse, info=urlsplit(callback).query, sformat="urlencoded")
    assert auth["state"] == state
    assert query_of(callback)["iss"] == base  # RFC 9207

    tokens = rp.do_access_token_request(
        state=state,
        request_args={
            "code": auth["code"],
            "code_verifier": verifier,
            "redirect_uri": seeded["redirect_uri"],
        },
        authn_method="client_secret_basic",
    )
    assert isinstance(tokens, AccessTokenResponse), tokens
    id_token = tokens["id_token"]  # already verified by pyoidc with the provider's JWKS
    assert id_token["nonce"] == nonce and id_token["iss"] == base
    assert id_token.jws_header["alg"] == "RS256" and id_token.jws_header["kid"]
    claims = verify_with_jwcrypto(base, id_token.jwt, seeded["client_id"])
    assert claims["nonce"] == nonce and claims["email"] == seeded["email"]
    assert isinstance(claims["organizations"], list)

    info = rp.do_user_info_request(state=state)
    assert info["sub"] == claims["sub"] and info["email"] == seeded["email"]

    old_refresh = tokens["refresh_token"]
    refreshed = rp.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert isinstance(refreshed, AccessTokenResponse), refreshed
    assert refreshed["refresh_token"] != old_refresh  # rotation observed
    assert refreshed["access_token"] != tokens["access_token"]

    auth_basic = (seeded["client_id"], seeded["client_secret"])
    intro = requests.post(
        base + "/oauth2/introspect", data={"token": refreshed["access_token"]}, auth=auth_basic, timeout=10
    ).json()
    assert (
        intro["active"] is True
        and intro["client_id"] == seeded["client_id"]
        and intro["sub"] == claims["sub"]
    )
    revoked = requests.post(
        base + "/oauth2/revoke",
        data={"token": refreshed["refresh_token"], "token_type_hint": "refresh_token"},
        auth=auth_basic,
        timeout=10,
    )
    assert revoked.status_code == 200
    intro = requests.post(
        base + "/oauth2/introspect", data={"token": refreshed["access_token"]}, auth=auth_basic, timeout=10
    ).json()
    assert intro == {"active": False}


def test_oidcc_server_with_requests_oauthlib_and_refresh_rotation(oidc_server, seeded, monkeypatch):
    # The live server is plain http on loopback; oauthlib's documented switch for local testing.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    base = oidc_server.url
    meta = requests.get(base + "/.well-known/openid-configuration", timeout=10).json()
    session = OAuth2Session(
        seeded["client_id"],
        redirect_uri=seeded["redirect_uri"],
        scope=["openid", "email", "offline_access"],
        pkce="S256",
    )
    url, state = session.authorization_url(meta["authorization_endpoint"], nonce=rndstr())
    callback = sign_in_and_consent(
        requests.Session(), url, seeded["email"], seeded["password"], seeded["redirect_uri"]
    )
    token = session.fetch_token(
        meta["token_endpoint"],
        authorization_response=callback,
        client_secret=seeded["client_secret"],
        include_client_id=False,
    )
    verify_with_jwcrypto(base, token["id_token"], seeded["client_id"])
    info = session.get(meta["userinfo_endpoint"], timeout=10).json()
    assert info["email"] == seeded["email"]
    first_refresh = token["refresh_token"]
    new = session.refresh_token(meta["token_endpoint"], auth=(seeded["client_id"], seeded["client_secret"]))
    assert new["refresh_token"] != first_refresh

    # Two tabs refreshing at once: within the grace window the replay gets the same new pair.
    again = requests.post(
        meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": first_refresh},
        auth=(seeded["client_id"], seeded["client_secret"]),
        timeout=10,
    )
    assert again.status_code == 200 and again.json()["refresh_token"] == new["refresh_token"]


def test_oidcc_server_rotate_keys_via_manage_py_keeps_old_tokens_verifiable(oidc_server, seeded):
    base = oidc_server.url
    rp = oic_client(base, seeded)

    def login_tokens() -> AccessTokenResponse:
        state = rndstr()
        pkce_args, verifier = rp.add_code_challenge()
        url = rp.construct_AuthorizationRequest(
            request_args={
                "client_id": seeded["client_id"],
                "response_type": "code",
                "scope": ["openid"],
                "nonce": rndstr(),
                "state": state,
                "redirect_uri": seeded["redirect_uri"],
                **pkce_args,
            }
        ).request(rp.authorization_endpoint)
        callback = sign_in_and_consent(
            requests.Session(), url, seeded["email"], seeded["password"], seeded["redirect_uri"]
        )
        auth = rp.parse_response(AuthorizationResponse, info=urlsplit(callback).query, sformat="urlencoded")
        return rp.do_access_token_request(
            state=state,
            request_args={
                "code": auth["code"],
                "code_verifier": verifier,
                "redirect_uri": seeded["redirect_uri"],
            },
            authn_method="client_secret_basic",
        )

    old = login_tokens()["id_token"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["FLASK_ENV"] = "testing"
    done = subprocess.run(
        [sys.executable, "manage.py", "keys", "rotate"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "new active signing key" in done.stdout
    old_claims = verify_with_jwcrypto(base, old.jwt, seeded["client_id"])
    new = login_tokens()["id_token"]
    new_claims = verify_with_jwcrypto(base, new.jwt, seeded["client_id"])
    assert old_claims["sub"] == new_claims["sub"]
    assert new.jws_header["kid"] != old.jws_header["kid"]
    published = {k["kid"] for k in requests.get(base + "/oauth2/jwks", timeout=10).json()["keys"]}
    assert {old.jws_header["kid"], new.jws_header["kid"]} <= published

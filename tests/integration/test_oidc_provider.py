"""OpenID provider, in process: the conformance suite's Basic/Config OP modules and negative cases.

Each test is named after the module it mirrors (oidcc-*) or the rule it checks. ID tokens are
verified with jwcrypto, a JOSE library independent of the server's Authlib.
"""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from jwcrypto import jwk, jwt
from sqlalchemy import select, update

from app import create_app
from app.extensions import db
from app.models.audit import AuditLog
from app.models.base import utcnow
from app.models.oauth import OAuthAuthorizationCode, OAuthToken
from tests.helpers import DEFAULT_PASSWORD
from tests.oidc_support import POST_LOGOUT_URI, REDIRECT_URI, form_fields, make_client, pkce_pair, query_of

# Mirrors BaseConfig: PUBLIC_BASE_URL (empty = unset) or the default.
ISSUER = (os.environ.get("PUBLIC_BASE_URL") or "http://localhost:5000").rstrip("/")


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def rp(app) -> dict[str, Any]:
    """A confidential client (client_secret_basic, PKCE required) with refresh tokens."""
    return make_client(app)


@pytest.fixture
def browser(client, auth) -> dict[str, Any]:
    """A logged-in browser: the test client holds the Authy2 session cookie."""
    user = auth.register()
    auth.login(user["email"], user["password"])
    return user


def authorize_params(rp: dict[str, Any], **extra: Any) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": rp["client_id"],
        "redirect_uri": rp["redirect_uri"],
        "scope": "openid profile email offline_access",
        "state": "st-" + verifier[:8],
        "nonce": "n-" + verifier[8:16],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    params = {k: v for k, v in params.items() if v is not None}
    params["_verifier"] = verifier
    return params


def start(client, params: dict[str, Any]):
    query = {k: v for k, v in params.items() if not k.startswith("_")}
    return client.get("/oauth2/authorize?" + urlencode(query))


def consent(client, page_resp, decision: str = "allow"):
    fields = form_fields(page_resp.get_data(as_text=True))
    return client.post(fields["action"], data={"csrf_token": fields["csrf_token"], "decision": decision})


def get_code(client, rp, **extra) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Run authorize (+consent if shown) with the logged-in test client; returns (code, params, query)."""
    params = authorize_params(rp, **extra)
    resp = start(client, params)
    if resp.status_code == 200:
        resp = consent(client, resp)
    assert resp.status_code in (302, 303), resp.get_data(as_text=True)[:500]
    assert resp.headers["Location"].startswith(rp["redirect_uri"])
    q = query_of(resp.headers["Location"])
    assert "code" in q, q
    return q["code"], params, q


def redeem(client, rp, code: str, verifier: str | None, **extra: Any):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp["redirect_uri"]}
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    return client.post("/oauth2/token", data=data, headers=basic(rp["client_id"], rp["client_secret"]))


def jwks_of(client) -> jwk.JWKSet:
    resp = client.get("/oauth2/jwks")
    assert resp.status_code == 200
    return jwk.JWKSet.from_json(resp.get_data(as_text=True))


def verify_id_token(client, id_token: str, rp: dict[str, Any]) -> dict[str, Any]:
    """Verify signature (jwcrypto, RS256 only) and the standard claims; return the claims."""
    header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["kid"]
    token = jwt.JWT(jwt=id_token, key=jwks_of(client), algs=["RS256"], check_claims={"exp": None})
    claims = json.loads(token.claims)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == rp["client_id"] or rp["client_id"] in claims["aud"]
    assert claims["exp"] > time.time() and claims["iat"] <= time.time() + 5
    return claims


def full_flow(client, rp, **extra) -> dict[str, Any]:
    code, params, q = get_code(client, rp, **extra)
    resp = redeem(client, rp, code, params["_verifier"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {"tokens": resp.get_json(), "params": params, "query": q, "code": code}


# --- Config OP ----------------------------------------------------------------------------------


def test_oidcc_discovery_endpoint_verification(client):
    resp = client.get("/.well-known/openid-configuration")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["issuer"] == ISSUER
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ):
        assert doc[key].startswith(ISSUER + "/oauth2/")
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "none" not in doc["id_token_signing_alg_values_supported"]
    assert {"openid", "profile", "email", "offline_access", "organizations"} <= set(doc["scopes_supported"])
    assert doc["authorization_response_iss_parameter_supported"] is True


def test_jwks_publishes_only_public_rsa_members(client):
    body = client.get("/oauth2/jwks").get_json()
    assert body["keys"]
    for key in body["keys"]:
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


# --- Basic OP: happy paths ----------------------------------------------------------------------


def test_oidcc_server(client, rp, browser):
    flow = full_flow(client, rp)
    q, tokens = flow["query"], flow["tokens"]
    assert q["state"] == flow["params"]["state"]
    assert q["iss"] == ISSUER
    assert tokens["token_type"] == "Bearer" and tokens["access_token"] and tokens["refresh_token"]
    claims = verify_id_token(client, tokens["id_token"], rp)
    assert claims["sub"] == browser["id"]
    assert claims["nonce"] == flow["params"]["nonce"]
    assert claims["email"] == browser["email"]
    assert isinstance(claims["auth_time"], int)
    assert "at_hash" in claims


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(client, rp, browser):
    flow = full_flow(client, rp, nonce=None)
    claims = verify_id_token(client, flow["tokens"]["id_token"], rp)
    assert "nonce" not in claims


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(client, rp, browser):
    flow = full_flow(client, rp, extra_param="foobar", display="page", ui_locales="fr", acr_values="1 2")
    assert flow["tokens"]["id_token"]


def test_oidcc_ensure_post_request_succeeds(client, rp, browser):
    params = authorize_params(rp)
    data = {k: v for k, v in params.items() if not k.startswith("_")}
    resp = client.post("/oauth2/authorize", data=data)
    assert resp.status_code == 200  # consent page
    resp = consent(client, resp)
    assert resp.status_code == 303
    q = query_of(resp.headers["Location"])
    assert redeem(client, rp, q["code"], params["_verifier"]).status_code == 200


def test_oidcc_server_client_secret_post(app, client, browser):
    rp = make_client(app, token_endpoint_auth_method="client_secret_post")
    code, params, _ = get_code(client, rp)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp["redirect_uri"],
        "code_verifier": params["_verifier"],
        "client_id": rp["client_id"],
        "client_secret": rp["client_secret"],
    }
    resp = client.post("/oauth2/token", data=data)
    assert resp.status_code == 200, resp.get_json()


def test_client_secret_basic_client_cannot_switch_to_post(client, rp, browser):
    code, params, _ = get_code(client, rp)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp["redirect_uri"],
        "code_verifier": params["_verifier"],
        "client_id": rp["client_id"],
        "client_secret": rp["client_secret"],
    }
    resp = client.post("/oauth2/token", data=data)
    assert resp.status_code in (400, 401) and resp.get_json()["error"] == "invalid_client"


def test_public_client_uses_pkce_without_secret(app, client, browser):
    rp = make_client(app, token_endpoint_auth_method="none")
    assert rp["client_secret"] is None
    code, params, _ = get_code(client, rp)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp["redirect_uri"],
        "code_verifier": params["_verifier"],
        "client_id": rp["client_id"],
    }
    assert client.post("/oauth2/token", data=data).status_code == 200


def test_oidcc_scope_profile_email_and_organizations(app, client, rp, browser):
    from tests.oidc_support import make_org

    org = make_org(app, {browser["id"]: "admin"})
    flow = full_flow(client, rp, scope="openid profile email organizations")
    headers = {"Authorization": "Bearer " + flow["tokens"]["access_token"]}
    info = client.get("/oauth2/userinfo", headers=headers).get_json()
    assert info["sub"] == browser["id"] and info["email"] == browser["email"]
    assert "email_verified" in info and "preferred_username" in info
    assert {
        "id": org["id"],
        "slug": org["slug"],
        "name": info["organizations"][0]["name"],
        "role": "admin",
    } in (info["organizations"])
    assert "refresh_token" not in flow["tokens"]  # no offline_access, no refresh token


def test_oidcc_scope_openid_only_releases_sub_only(client, rp, browser):
    flow = full_flow(client, rp, scope="openid")
    headers = {"Authorization": "Bearer " + flow["tokens"]["access_token"]}
    assert client.get("/oauth2/userinfo", headers=headers).get_json() == {"sub": browser["id"]}


# --- userinfo ---------------------------------------------------------------------------------


def test_oidcc_userinfo_get_post_header_post_body(client, rp, browser):
    access = full_flow(client, rp)["tokens"]["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    assert client.get("/oauth2/userinfo", headers=headers).get_json()["sub"] == browser["id"]
    assert client.post("/oauth2/userinfo", headers=headers).get_json()["sub"] == browser["id"]
    assert client.post("/oauth2/userinfo", data={"access_token": access}).get_json()["sub"] == browser["id"]
    both = client.post("/oauth2/userinfo", data={"access_token": access}, headers=headers)
    assert both.status_code == 400 and both.get_json()["error"] == "invalid_request"


def test_userinfo_without_or_with_bad_token_is_401_bearer(client):
    resp = client.get("/oauth2/userinfo")
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = client.get("/oauth2/userinfo", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    assert resp.get_json()["error"] == "invalid_token"


# --- codes ----------------------------------------------------------------------------------------


def test_oidcc_codereuse(client, rp, browser):
    flow = full_flow(client, rp)
    again = redeem(client, rp, flow["code"], flow["params"]["_verifier"])
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    # The tokens issued from the first redemption are revoked.
    headers = {"Authorization": "Bearer " + flow["tokens"]["access_token"]}
    assert client.get("/oauth2/userinfo", headers=headers).status_code == 401
    refresh = client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": flow["tokens"]["refresh_token"]},
        headers=basic(rp["client_id"], rp["client_secret"]),
    )
    assert refresh.status_code == 400 and refresh.get_json()["error"] == "invalid_grant"


def test_oidcc_codereuse_30seconds(app, client, rp, browser):
    flow = full_flow(client, rp)
    with app.app_context():
        db.session.execute(update(OAuthAuthorizationCode).values(used_at=utcnow() - timedelta(seconds=30)))
        db.session.commit()
        db.session.remove()
    again = redeem(client, rp, flow["code"], flow["params"]["_verifier"])
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    headers = {"Authorization": "Bearer " + flow["tokens"]["access_token"]}
    assert client.get("/oauth2/userinfo", headers=headers).status_code == 401
    with app.app_context():
        actions = db.session.execute(select(AuditLog.action)).scalars().all()
        assert "oauth.code.reuse_detected" in actions
        db.session.remove()


def test_code_lives_at_most_60_seconds(app, client, rp, browser):
    code, params, _ = get_code(client, rp)
    with app.app_context():
        row = db.session.execute(select(OAuthAuthorizationCode)).scalar_one()
        assert (row.expires_at - row.created_at).total_seconds() <= 60
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        db.session.remove()
    resp = redeem(client, rp, code, params["_verifier"])
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_code_issued_to_another_client_is_refused(app, client, rp, browser):
    other = make_client(app)
    code, params, _ = get_code(client, rp)
    resp = redeem(client, other, code, params["_verifier"])
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_invalid_client(client, rp, browser):
    code, params, _ = get_code(client, rp)
    resp = client.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": rp["redirect_uri"]},
        headers=basic(rp["client_id"], "wrong-secret"),
    )
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"


def test_token_redirect_uri_must_match_the_authorization_request(app, client, browser):
    rp = make_client(app, redirect_uris=[REDIRECT_URI, "http://127.0.0.1:8080/other"])
    code, params, _ = get_code(client, rp)
    resp = redeem(client, rp, code, params["_verifier"], redirect_uri="http://127.0.0.1:8080/other")
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


# --- PKCE -----------------------------------------------------------------------------------------


def _error_redirect(resp, rp, error: str, state: str | None = None) -> dict[str, str]:
    assert resp.status_code in (302, 303), resp.get_data(as_text=True)[:300]
    location = resp.headers["Location"]
    assert location.startswith(rp["redirect_uri"] + "?")
    q = query_of(location)
    assert q["error"] == error, q
    assert q["iss"] == ISSUER
    if state is not None:
        assert q["state"] == state
    return q


def test_missing_pkce_is_refused(client, rp, browser):
    params = authorize_params(rp, code_challenge=None, code_challenge_method=None)
    _error_redirect(start(client, params), rp, "invalid_request", params["state"])


def test_plain_pkce_is_refused(client, rp, browser):
    params = authorize_params(rp, code_challenge_method="plain")
    _error_redirect(start(client, params), rp, "invalid_request", params["state"])


def test_pkce_challenge_without_method_is_refused_as_plain(client, rp, browser):
    params = authorize_params(rp, code_challenge_method=None)
    _error_redirect(start(client, params), rp, "invalid_request", params["state"])


def test_oidcc_ensure_request_with_valid_pkce_succeeds(client, rp, browser):
    assert full_flow(client, rp)["tokens"]["access_token"]


def test_wrong_code_verifier_is_invalid_grant(client, rp, browser):
    code, _, _ = get_code(client, rp)
    other_verifier, _ = pkce_pair()
    resp = redeem(client, rp, code, other_verifier)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_missing_code_verifier_is_refused(client, rp, browser):
    code, _, _ = get_code(client, rp)
    resp = redeem(client, rp, code, None)
    assert resp.status_code == 400 and resp.get_json()["error"] in ("invalid_request", "invalid_grant")


def test_verifier_for_code_issued_without_challenge_is_refused(app, client, browser):
    rp = make_client(app, require_pkce=False)
    code, _, _ = get_code(client, rp, code_challenge=None, code_challenge_method=None)
    verifier, _ = pkce_pair()
    resp = redeem(client, rp, code, verifier)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_confidential_client_without_require_pkce_may_skip_it(app, client, browser):
    rp = make_client(app, require_pkce=False)
    code, _, _ = get_code(client, rp, code_challenge=None, code_challenge_method=None)
    assert redeem(client, rp, code, None).status_code == 200


# --- redirect_uri strictness --------------------------------------------------------------------

REDIRECT_VARIANTS = {
    "userinfo_at": "http://127.0.0.1:8080@evil.example/callback",
    "userinfo_in_front": "http://evil@127.0.0.1:8080/callback",
    "prefix": "http://127.0.0.1:8080/callback/extra",
    "suffix_host": "http://127.0.0.1.evil.example:8080/callback",
    "path_traversal": "http://127.0.0.1:8080/callback/../evil",
    "encoded_traversal": "http://127.0.0.1:8080/callback/%2e%2e/evil",
    "scheme_change": "https://127.0.0.1:8080/callback",
    "fragment": "http://127.0.0.1:8080/callback#frag",
    "case": "http://127.0.0.1:8080/Callback",
    "trailing_slash": "http://127.0.0.1:8080/callback/",
    "query_added": "http://127.0.0.1:8080/callback?foo=bar",
    "port_change": "http://127.0.0.1:8081/callback",
    "other_host": "https://evil.example/callback",
}


@pytest.mark.parametrize("variant", sorted(REDIRECT_VARIANTS))
def test_oidcc_ensure_registered_redirect_uri(client, rp, browser, variant):
    params = authorize_params(rp, redirect_uri=REDIRECT_VARIANTS[variant])
    resp = start(client, params)
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert resp.mimetype == "text/html"
    assert "redirect" in resp.get_data(as_text=True).lower()


def test_oidcc_redirect_uri_query_added_and_mismatch(app, client, browser):
    rp = make_client(app, redirect_uris=["http://127.0.0.1:8080/cb?foo=bar"])
    for bad in (
        "http://127.0.0.1:8080/cb?foo=bar&x=1",
        "http://127.0.0.1:8080/cb?foo=baz",
        "http://127.0.0.1:8080/cb",
    ):
        resp = start(client, authorize_params(rp, redirect_uri=bad))
        assert resp.status_code == 400 and "Location" not in resp.headers


def test_oidcc_redirect_uri_query_ok(app, client, browser):
    rp = make_client(app, redirect_uris=["http://127.0.0.1:8080/cb?foo=bar"])
    code, params, q = get_code(client, rp)
    assert q["foo"] == "bar"
    assert redeem(client, rp, code, params["_verifier"]).status_code == 200


def test_oidcc_ensure_redirect_uri_in_authorization_request(client, rp, browser):
    resp = start(client, authorize_params(rp, redirect_uri=None))
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_unknown_client_id_shows_error_page_without_redirect(client, rp, browser):
    resp = start(client, authorize_params(rp, client_id="no-such-client"))
    assert resp.status_code == 400 and "Location" not in resp.headers
    resp = start(client, authorize_params(rp, client_id=None))
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_duplicate_redirect_uri_parameter_is_an_error_page(client, rp, browser):
    params = {k: v for k, v in authorize_params(rp).items() if not k.startswith("_")}
    query = urlencode(params) + "&redirect_uri=" + "http%3A%2F%2Fevil.example%2F"
    resp = client.get("/oauth2/authorize?" + query)
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_redirect_uri_registration_refuses_fragments_and_http_hosts(app):
    from app import errors

    for uri in (
        "https://rp.example/cb#x",
        "http://rp.example/cb",
        "https://u@rp.example/cb",
        "ftp://rp.example/",
    ):
        with pytest.raises(errors.ValidationFailed):
            make_client(app, redirect_uris=[uri])


# --- response_type, scope, request objects ---------------------------------------------------------


def test_oidcc_response_type_missing(client, rp, browser):
    params = authorize_params(rp, response_type=None)
    _error_redirect(start(client, params), rp, "unsupported_response_type", params["state"])


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token", "none"])
def test_unsupported_response_type(client, rp, browser, response_type):
    params = authorize_params(rp, response_type=response_type)
    _error_redirect(start(client, params), rp, "unsupported_response_type", params["state"])


def test_invalid_scope_is_refused(client, rp, browser):
    params = authorize_params(rp, scope="openid admin")
    _error_redirect(start(client, params), rp, "invalid_scope", params["state"])


def test_scope_not_registered_for_the_client_is_refused(app, client, browser):
    rp = make_client(app, scope="openid email")
    params = authorize_params(rp, scope="openid organizations")
    _error_redirect(start(client, params), rp, "invalid_scope", params["state"])


def test_oidcc_unsigned_request_object_rejected_as_unsupported(client, rp, browser):
    params = authorize_params(rp, request="eyJhbGciOiJub25lIn0.e30.")
    _error_redirect(start(client, params), rp, "request_not_supported", params["state"])


def test_oidcc_request_uri_rejected_as_unsupported(client, rp, browser):
    params = authorize_params(rp, request_uri="https://rp.example/request.jwt")
    _error_redirect(start(client, params), rp, "request_uri_not_supported", params["state"])


# --- prompt, max_age, login page -----------------------------------------------------------------


def test_oidcc_prompt_none_not_logged_in(client, rp):
    params = authorize_params(rp, prompt="none")
    _error_redirect(start(client, params), rp, "login_required", params["state"])


def test_oidcc_prompt_none_logged_in(client, rp, browser):
    full_flow(client, rp)  # consent remembered
    params = authorize_params(rp, prompt="none")
    resp = start(client, params)
    assert resp.status_code == 302
    q = query_of(resp.headers["Location"])
    assert q["code"] and q["state"] == params["state"] and q["iss"] == ISSUER


def test_prompt_none_without_consent_is_consent_required(client, rp, browser):
    params = authorize_params(rp, prompt="none")
    _error_redirect(start(client, params), rp, "consent_required", params["state"])


def test_prompt_consent_shows_consent_page_even_when_remembered(client, rp, browser):
    full_flow(client, rp)
    resp = start(client, authorize_params(rp, prompt="consent"))
    assert resp.status_code == 200 and 'value="allow"' in resp.get_data(as_text=True)


def test_remembered_consent_skips_the_page(client, rp, browser):
    full_flow(client, rp)
    resp = start(client, authorize_params(rp))
    assert resp.status_code == 302 and "code=" in resp.headers["Location"]


def test_consent_denied_is_access_denied(client, rp, browser):
    params = authorize_params(rp)
    resp = consent(client, start(client, params), decision="deny")
    _error_redirect(resp, rp, "access_denied", params["state"])


def test_consent_post_without_csrf_token_is_refused(client, rp, browser):
    page = start(client, authorize_params(rp))
    fields = form_fields(page.get_data(as_text=True))
    resp = client.post(fields["action"], data={"decision": "allow"})
    assert resp.status_code == 403 and "Location" not in resp.headers


def _login_via_page(client, page, email, password):
    fields = form_fields(page.get_data(as_text=True))
    return client.post(
        fields["action"], data={"csrf_token": fields["csrf_token"], "email": email, "password": password}
    )


def test_login_page_posts_and_redirects_with_303(client, auth, rp):
    user = auth.register()
    params = authorize_params(rp)
    page = start(client, params)
    assert page.status_code == 200 and 'type="password"' in page.get_data(as_text=True)
    assert "form-action 'self' http://127.0.0.1:8080" in page.headers["Content-Security-Policy"]
    resp = _login_via_page(client, page, user["email"], DEFAULT_PASSWORD)
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith("/oauth2/authorize?")
    consent_page = client.get(resp.headers["Location"])
    assert consent_page.status_code == 200 and 'value="allow"' in consent_page.get_data(as_text=True)
    final = consent(client, consent_page)
    q = query_of(final.headers["Location"])
    assert redeem(client, rp, q["code"], params["_verifier"]).status_code == 200


def test_login_page_wrong_password_stays_on_page(client, auth, rp):
    user = auth.register()
    page = start(client, authorize_params(rp))
    resp = _login_via_page(client, page, user["email"], "wrong-password-1")
    assert resp.status_code == 401 and "Invalid email or password" in resp.get_data(as_text=True)
    assert "Location" not in resp.headers


def test_login_page_without_csrf_is_refused(client, auth, rp):
    user = auth.register()
    page = start(client, authorize_params(rp))
    fields = form_fields(page.get_data(as_text=True))
    resp = client.post(fields["action"], data={"email": user["email"], "password": DEFAULT_PASSWORD})
    assert resp.status_code == 403
    assert client.get("/api/v1/auth/me").status_code == 401


def test_oidcc_prompt_login_reauthenticates_existing_session(client, rp, browser):
    params = authorize_params(rp, prompt="login")
    page = start(client, params)
    assert page.status_code == 200 and 'type="password"' in page.get_data(as_text=True)
    resp = _login_via_page(client, page, browser["email"], DEFAULT_PASSWORD)
    assert resp.status_code == 303 and "prompt=login" not in resp.headers["Location"]


def test_oidcc_max_age_1(client, rp, browser):
    full_flow(client, rp)
    time.sleep(2.1)
    page = start(client, authorize_params(rp, max_age="1"))
    assert page.status_code == 200 and 'type="password"' in page.get_data(as_text=True)


def test_oidcc_max_age_10000(client, rp, browser):
    flow = full_flow(client, rp, max_age="10000")
    claims = verify_id_token(client, flow["tokens"]["id_token"], rp)
    assert claims["auth_time"] <= time.time()


# --- refresh tokens ---------------------------------------------------------------------------


def _refresh(client, rp, token):
    return client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers=basic(rp["client_id"], rp["client_secret"]),
    )


def test_oidcc_refresh_token_rotates(client, rp, browser):
    first = full_flow(client, rp)["tokens"]
    resp = _refresh(client, rp, first["refresh_token"])
    assert resp.status_code == 200
    second = resp.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    third = _refresh(client, rp, second["refresh_token"])
    assert third.status_code == 200


def test_refresh_replay_within_grace_window_returns_the_same_pair(client, rp, browser):
    first = full_flow(client, rp)["tokens"]
    a = _refresh(client, rp, first["refresh_token"]).get_json()
    b = _refresh(client, rp, first["refresh_token"])
    assert b.status_code == 200
    assert b.get_json()["refresh_token"] == a["refresh_token"]
    assert b.get_json()["access_token"] == a["access_token"]


def test_refresh_reuse_after_grace_window_revokes_the_family(app, client, rp, browser):
    first = full_flow(client, rp)["tokens"]
    second = _refresh(client, rp, first["refresh_token"]).get_json()
    with app.app_context():
        db.session.execute(
            update(OAuthToken)
            .where(OAuthToken.refresh_used_at.is_not(None))
            .values(refresh_used_at=utcnow() - timedelta(seconds=60))
        )
        db.session.commit()
        db.session.remove()
    replay = _refresh(client, rp, first["refresh_token"])
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    # The whole family is dead, including the pair the legitimate client holds.
    assert _refresh(client, rp, second["refresh_token"]).status_code == 400
    headers = {"Authorization": "Bearer " + second["access_token"]}
    assert client.get("/oauth2/userinfo", headers=headers).status_code == 401
    with app.app_context():
        actions = db.session.execute(select(AuditLog.action)).scalars().all()
        assert "oauth.refresh_token.reuse_detected" in actions
        db.session.remove()


def test_refresh_token_of_another_client_is_refused(app, client, rp, browser):
    other = make_client(app)
    tokens = full_flow(client, rp)["tokens"]
    resp = _refresh(client, other, tokens["refresh_token"])
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


# --- client credentials, revocation, introspection --------------------------------------------


def test_client_credentials_grant(app, client):
    rp = make_client(app, grant_types=["client_credentials"], redirect_uris=[], scope="organizations")
    resp = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "organizations"},
        headers=basic(rp["client_id"], rp["client_secret"]),
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["access_token"] and "refresh_token" not in body and "id_token" not in body


def test_client_not_registered_for_client_credentials_is_refused(client, rp):
    resp = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic(rp["client_id"], rp["client_secret"]),
    )
    assert resp.status_code == 400 and resp.get_json()["error"] == "unauthorized_client"


@pytest.mark.parametrize(
    "grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"]
)
def test_unsupported_grant_types(client, rp, grant_type):
    resp = client.post(
        "/oauth2/token",
        data={"grant_type": grant_type, "username": "a", "password": "b"},
        headers=basic(rp["client_id"], rp["client_secret"]),
    )
    assert resp.status_code == 400 and resp.get_json()["error"] == "unsupported_grant_type"


def test_introspection_shows_own_tokens_only(app, client, rp, browser):
    other = make_client(app)
    tokens = full_flow(client, rp)["tokens"]
    own = client.post(
        "/oauth2/introspect",
        data={"token": tokens["access_token"]},
        headers=basic(rp["client_id"], rp["client_secret"]),
    ).get_json()
    assert own["active"] is True and own["client_id"] == rp["client_id"] and own["sub"] == browser["id"]
    theirs = client.post(
        "/oauth2/introspect",
        data={"token": tokens["access_token"]},
        headers=basic(other["client_id"], other["client_secret"]),
    ).get_json()
    assert theirs == {"active": False}


def test_revocation_rfc7009(app, client, rp, browser):
    other = make_client(app)
    tokens = full_flow(client, rp)["tokens"]
    refused = client.post(
        "/oauth2/revoke",
        data={"token": tokens["refresh_token"]},
        headers=basic(other["client_id"], other["client_secret"]),
    )
    assert refused.status_code == 400
    assert _refresh(client, rp, tokens["refresh_token"]).status_code == 200  # still live
    unknown = client.post(
        "/oauth2/revoke", data={"token": "nope"}, headers=basic(rp["client_id"], rp["client_secret"])
    )
    assert unknown.status_code == 200


def test_revoking_refresh_token_revokes_its_family(client, rp, browser):
    tokens = full_flow(client, rp)["tokens"]
    resp = client.post(
        "/oauth2/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        headers=basic(rp["client_id"], rp["client_secret"]),
    )
    assert resp.status_code == 200
    headers = {"Authorization": "Bearer " + tokens["access_token"]}
    assert client.get("/oauth2/userinfo", headers=headers).status_code == 401
    assert _refresh(client, rp, tokens["refresh_token"]).status_code == 400
    intro = client.post(
        "/oauth2/introspect",
        data={"token": tokens["access_token"]},
        headers=basic(rp["client_id"], rp["client_secret"]),
    ).get_json()
    assert intro == {"active": False}


# --- keys -------------------------------------------------------------------------------------


def test_oidcc_server_rotate_keys(app, client, rp, browser):
    from app.services.keys import rotate_signing_keys

    old = full_flow(client, rp)["tokens"]["id_token"]
    old_kid = json.loads(base64.urlsafe_b64decode(old.split(".")[0] + "=="))["kid"]
    with app.app_context():
        rotate_signing_keys()
        db.session.commit()
        db.session.remove()
    kids = {k["kid"] for k in client.get("/oauth2/jwks").get_json()["keys"]}
    assert old_kid in kids and len(kids) == 2
    verify_id_token(client, old, rp)  # still verifiable against the published JWKS
    new = full_flow(client, rp, prompt=None)["tokens"]["id_token"]
    new_kid = json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))["kid"]
    assert new_kid != old_kid and new_kid in kids
    verify_id_token(client, new, rp)


def test_oidcc_idtoken_unsigned_is_never_issued_or_accepted(client, rp, browser):
    tokens = full_flow(client, rp)["tokens"]
    header = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "RS256"
    # An alg:none id_token_hint is refused at logout.
    payload = tokens["id_token"].split(".")[1]
    forged = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode() + "." + payload + "."
    resp = client.get(
        "/oauth2/logout?" + urlencode({"id_token_hint": forged, "post_logout_redirect_uri": POST_LOGOUT_URI})
    )
    assert resp.status_code == 400 and "Location" not in resp.headers


# --- RP-initiated logout -------------------------------------------------------------------------


def test_rp_initiated_logout_with_id_token_hint(client, rp, browser):
    tokens = full_flow(client, rp)["tokens"]
    resp = client.get(
        "/oauth2/logout?"
        + urlencode(
            {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT_URI, "state": "bye"}
        )
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == POST_LOGOUT_URI + "?state=bye"
    assert client.get("/api/v1/auth/me").status_code == 401


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(client, rp, browser):
    tokens = full_flow(client, rp)["tokens"]
    for bad in ("https://evil.example/", POST_LOGOUT_URI + "?foo=bar", POST_LOGOUT_URI + "/x"):
        resp = client.get(
            "/oauth2/logout?"
            + urlencode({"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": bad})
        )
        assert resp.status_code == 400 and "Location" not in resp.headers
    assert client.get("/api/v1/auth/me").status_code == 200


def test_oidcc_rp_initiated_logout_modified_id_token_hint(client, rp, browser):
    tokens = full_flow(client, rp)["tokens"]
    head, payload, sig = tokens["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "someone-else"
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    resp = client.get(
        "/oauth2/logout?"
        + urlencode(
            {"id_token_hint": f"{head}.{tampered}.{sig}", "post_logout_redirect_uri": POST_LOGOUT_URI}
        )
    )
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_oidcc_rp_initiated_logout_no_id_token_hint_asks_to_confirm(client, rp, browser):
    resp = client.get(
        "/oauth2/logout?"
        + urlencode({"client_id": rp["client_id"], "post_logout_redirect_uri": POST_LOGOUT_URI})
    )
    assert resp.status_code == 200 and 'value="logout"' in resp.get_data(as_text=True)
    assert client.get("/api/v1/auth/me").status_code == 200
    fields = form_fields(resp.get_data(as_text=True))
    done = client.post(fields["action"], data={"csrf_token": fields["csrf_token"], "decision": "logout"})
    assert done.status_code == 303 and done.headers["Location"] == POST_LOGOUT_URI
    assert client.get("/api/v1/auth/me").status_code == 401


# --- audit ------------------------------------------------------------------------------------------


def test_audit_rows_for_consent_and_tokens_never_hold_secrets(app, client, rp, browser):
    tokens = full_flow(client, rp)["tokens"]
    with app.app_context():
        rows = db.session.execute(select(AuditLog)).scalars().all()
        actions = [r.action for r in rows]
        assert "oauth.consent.granted" in actions and "oauth.token.issued" in actions
        dump = json.dumps([r.details for r in rows])
        for secret in (tokens["access_token"], tokens["refresh_token"], rp["client_secret"]):
            assert secret not in dump
        db.session.remove()


def test_iss_is_added_even_when_state_contains_iss(client, rp, browser):
    flow = full_flow(client, rp, state="xiss=evil")
    assert flow["query"]["iss"] == ISSUER and flow["query"]["state"] == "xiss=evil"


@pytest.mark.parametrize(
    "data",
    [
        {"grant_type": "authorization_code", "code": "x" * 5000, "redirect_uri": REDIRECT_URI},
        {"grant_type": "authorization_code", "code": "a\x00b", "redirect_uri": REDIRECT_URI},
        {"grant_type": "refresh_token", "refresh_token": "\u202e" * 300},
        {"grant_type": "refresh_token"},
        {"grant_type": "authorization_code"},
        {"grant_type": ""},
        {},
    ],
)
def test_token_endpoint_bad_input_is_a_4xx_oauth_error(client, rp, data):
    resp = client.post("/oauth2/token", data=data, headers=basic(rp["client_id"], rp["client_secret"]))
    assert 400 <= resp.status_code < 500
    assert resp.get_json()["error"] in ("invalid_request", "invalid_grant", "unsupported_grant_type")
    assert resp.headers["Cache-Control"] == "no-store"


def test_token_endpoint_json_body_and_malformed_basic_auth_are_4xx(client, rp):
    assert 400 <= client.post("/oauth2/token", json={"grant_type": "client_credentials"}).status_code < 500
    resp = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic %%%"}
    )
    assert 400 <= resp.status_code < 500 and "error" in resp.get_json()


@pytest.mark.parametrize("state", ["a\x00b", "<script>alert(1)</script>", "x" * 3000, "é\u202e"])
def test_authorize_odd_state_values_are_echoed_safely(client, rp, browser, state):
    params = authorize_params(rp, state=state, code_challenge=None, code_challenge_method=None)
    resp = start(client, params)
    assert resp.status_code in (302, 400)
    if resp.status_code == 302:
        assert "<script>" not in resp.headers["Location"]
        assert query_of(resp.headers["Location"])["state"] == state


def test_protocol_errors_do_not_use_the_envelope(client):
    resp = client.post("/oauth2/token", data={"grant_type": "password"})
    body = resp.get_json()
    assert "error" in body and "success" not in body and "version" not in body


def test_deactivated_client_tokens_stop_working(app, client, rp, browser):
    from app.models.oauth import OAuthClient

    tokens = full_flow(client, rp)["tokens"]
    with app.app_context():
        row = db.session.execute(
            select(OAuthClient).where(OAuthClient.client_id == rp["client_id"])
        ).scalar_one()
        row.is_active = False
        db.session.commit()
        db.session.remove()
    headers = {"Authorization": "Bearer " + tokens["access_token"]}
    assert client.get("/oauth2/userinfo", headers=headers).status_code == 401
    assert start(client, authorize_params(rp)).status_code == 400


def test_login_form_is_rate_limited_per_ip(app, auth, rp):
    # The testing config switches limits off; this test turns them on for its own app.
    limited = create_app("testing", {"RATELIMIT_ENABLED": True})
    client = limited.test_client()
    user = auth.register()
    page = start(client, authorize_params(rp))
    statuses = [
        _login_via_page(client, page, user["email"], "wrong-password-9").status_code for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    last = _login_via_page(client, page, user["email"], DEFAULT_PASSWORD)
    assert last.status_code == 429 and last.headers["Retry-After"] == "60"


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"])
def test_post_only_endpoints_answer_405_in_oauth_format(client, path):
    resp = client.get(path)
    assert resp.status_code == 405 and resp.headers["Allow"] == "POST"
    assert resp.get_json()["error"] == "invalid_request"


def test_oidcc_scope_address_and_phone_are_accepted_and_release_nothing(client, rp, browser):
    flow = full_flow(client, rp, scope="openid address phone")
    assert flow["tokens"]["scope"] == "openid"
    headers = {"Authorization": "Bearer " + flow["tokens"]["access_token"]}
    assert client.get("/oauth2/userinfo", headers=headers).get_json() == {"sub": browser["id"]}


def test_oidcc_scope_all(client, rp, browser):
    flow = full_flow(client, rp, scope="openid profile email address phone offline_access organizations")
    claims = verify_id_token(client, flow["tokens"]["id_token"], rp)
    assert claims["email"] == browser["email"] and "organizations" in claims


def test_oidcc_login_hint_prefills_the_login_form(client, rp):
    page = start(client, authorize_params(rp, login_hint="hint@example.com"))
    assert 'value="hint@example.com"' in page.get_data(as_text=True)


def test_oidcc_id_token_hint_with_prompt_none(client, rp, browser):
    first = full_flow(client, rp)["tokens"]
    params = authorize_params(rp, prompt="none", id_token_hint=first["id_token"])
    resp = start(client, params)
    assert resp.status_code == 302 and "code" in query_of(resp.headers["Location"])


def test_oidcc_claims_essential_and_claims_locales_are_ignored_gracefully(client, rp, browser):
    claims_param = json.dumps({"userinfo": {"name": {"essential": True}}})
    flow = full_flow(client, rp, claims=claims_param, claims_locales="de")
    assert flow["tokens"]["access_token"]


@pytest.mark.parametrize("display", ["page", "popup"])
def test_oidcc_display_page_and_popup(client, rp, browser, display):
    assert full_flow(client, rp, display=display)["tokens"]["id_token"]


def test_oidcc_server_with_the_sql_session_store(app, sql_client):
    from tests.helpers import AuthActions

    rp = make_client(app)
    actions = AuthActions(sql_client)
    user = actions.register()
    actions.login(user["email"], user["password"])
    flow = full_flow(sql_client, rp)
    assert verify_id_token(sql_client, flow["tokens"]["id_token"], rp)["sub"] == user["id"]

"""Local identity providers for federation tests, served over real HTTP on free loopback ports.

- FakeOIDCProvider: an OpenID Connect provider (discovery, authorize, token, JWKS, userinfo) that
  signs RS256 ID tokens with Authlib's JOSE, checks PKCE S256, client authentication, the
  redirect_uri and single-use codes; it can be told to misbehave (deny consent, wrong nonce).
  Its issuer may carry Microsoft's `{tenantid}` template.
- FakeGitHub: GitHub's OAuth app endpoints plus /user and /user/emails.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

from authlib.jose import JsonWebKey, jwt
from flask import Flask, abort, jsonify, redirect, request
from werkzeug.serving import make_server

from tests.e2e.conftest import free_port


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _client_credentials() -> tuple[str | None, str | None]:
    """client_id/secret from HTTP Basic or the form (client_secret_basic / client_secret_post)."""
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username, request.authorization.password
    return request.form.get("client_id"), request.form.get("client_secret")


class _Served:
    """A Flask app served by werkzeug in a daemon thread."""

    def __init__(self, app: Flask) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


class FakeOIDCProvider(_Served):
    """A minimal but strict OIDC provider for the authorization-code flow with PKCE."""

    def __init__(self, client_id: str, client_secret: str, issuer_path: str = "") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True)
        self.kid = secrets.token_hex(8)
        self.codes: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.reset()
        app = Flask(f"fake-oidc-{id(self)}")
        app.add_url_rule("/.well-known/openid-configuration", view_func=self.discovery)
        app.add_url_rule("/authorize", view_func=self.authorize)
        app.add_url_rule("/token", view_func=self.token, methods=["POST"])
        app.add_url_rule("/jwks", view_func=self.jwks)
        app.add_url_rule("/userinfo", view_func=self.userinfo)
        super().__init__(app)
        self.issuer_template = self.url + issuer_path

    def reset(self) -> None:
        """Back to a well-behaved provider with no user chosen."""
        self.claims: dict[str, Any] = {}
        self.deny = False
        self.nonce_override: str | None = None
        self.omit_id_token = False

    @property
    def discovery_url(self) -> str:
        return self.url + "/.well-known/openid-configuration"

    def discovery(self) -> Any:
        return jsonify(
            issuer=self.issuer_template,
            authorization_endpoint=self.url + "/authorize",
            token_endpoint=self.url + "/token",
            jwks_uri=self.url + "/jwks",
            userinfo_endpoint=self.url + "/userinfo",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            code_challenge_methods_supported=["S256"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        )

    def jwks(self) -> Any:
        public = self.key.as_dict(is_private=False)
        public.update(kid=self.kid, use="sig", alg="RS256")
        return jsonify(keys=[public])

    def authorize(self) -> Any:
        args = request.args.to_dict()
        self.authorize_requests.append(args)
        if args.get("client_id") != self.client_id or args.get("response_type") != "code":
            abort(400)
        redirect_uri = args["redirect_uri"]
        if self.deny:
            return redirect(
                redirect_uri + "?" + urlencode({"error": "access_denied", "state": args.get("state", "")})
            )
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            abort(400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "redirect_uri": redirect_uri,
            "challenge": args["code_challenge"],
            "nonce": args.get("nonce"),
            "claims": dict(self.claims),
        }
        return redirect(redirect_uri + "?" + urlencode({"code": code, "state": args.get("state", "")}))

    def _error(self, error: str) -> Any:
        return jsonify(error=error), 400

    def token(self) -> Any:
        cid, secret = _client_credentials()
        if cid != self.client_id or secret != self.client_secret:
            return jsonify(error="invalid_client"), 401
        grant = self.codes.pop(request.form.get("code", ""), None)
        if request.form.get("grant_type") != "authorization_code" or grant is None:
            return self._error("invalid_grant")
        if request.form.get("redirect_uri") != grant["redirect_uri"]:
            return self._error("invalid_grant")
        verifier = request.form.get("code_verifier") or ""
        if _s256(verifier) != grant["challenge"]:
            return self._error("invalid_grant")
        claims = grant["claims"]
        now = int(time.time())
        payload = {
            "iss": self.issuer_template.replace("{tenantid}", str(claims.get("tid", ""))),
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        nonce = self.nonce_override or grant["nonce"]
        if nonce:
            payload["nonce"] = nonce
        id_token = jwt.encode({"alg": "RS256", "kid": self.kid}, payload, self.key).decode("ascii")
        body: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 300,
        }
        if not self.omit_id_token:
            body["id_token"] = id_token
        return jsonify(body)

    def userinfo(self) -> Any:
        return jsonify(sub=self.claims.get("sub"))


class FakeGitHub(_Served):
    """GitHub's OAuth endpoints and the two API calls Authy2 makes."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.reset()
        app = Flask(f"fake-github-{id(self)}")
        app.add_url_rule("/login/oauth/authorize", view_func=self.authorize)
        app.add_url_rule("/login/oauth/access_token", view_func=self.access_token, methods=["POST"])
        app.add_url_rule("/user", view_func=self.user)
        app.add_url_rule("/user/emails", view_func=self.emails)
        super().__init__(app)

    def reset(self) -> None:
        """No user chosen, consent granted."""
        self.user_doc: dict[str, Any] = {}
        self.email_docs: list[dict[str, Any]] = []
        self.deny = False

    def authorize(self) -> Any:
        args = request.args.to_dict()
        self.authorize_requests.append(args)
        if args.get("client_id") != self.client_id:
            abort(400)
        redirect_uri = args["redirect_uri"]
        if self.deny:
            return redirect(
                redirect_uri + "?" + urlencode({"error": "access_denied", "state": args.get("state", "")})
            )
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "redirect_uri": redirect_uri,
            "challenge": args.get("code_challenge"),
            "user": dict(self.user_doc),
            "emails": list(self.email_docs),
        }
        return redirect(redirect_uri + "?" + urlencode({"code": code, "state": args.get("state", "")}))

    def access_token(self) -> Any:
        cid, secret = _client_credentials()
        if cid != self.client_id or secret != self.client_secret:
            return jsonify(error="incorrect_client_credentials")
        grant = self.codes.pop(request.form.get("code", ""), None)
        if grant is None or request.form.get("redirect_uri") != grant["redirect_uri"]:
            return jsonify(error="bad_verification_code")
        if grant["challenge"] and _s256(request.form.get("code_verifier") or "") != grant["challenge"]:
            return jsonify(error="bad_verification_code")
        token = "gho_" + secrets.token_urlsafe(20)
        self.tokens[token] = grant
        return jsonify(access_token=token, token_type="bearer", scope="read:user,user:email")

    def _grant(self) -> dict[str, Any]:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        grant = self.tokens.get(value) if scheme.lower() in {"bearer", "token"} else None
        if grant is None:
            abort(401)
        return grant

    def user(self) -> Any:
        return jsonify(self._grant()["user"])

    def emails(self) -> Any:
        return jsonify(self._grant()["emails"])

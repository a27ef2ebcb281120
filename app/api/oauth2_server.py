"""Authlib wiring of the OpenID provider: client/token/code adapters, grants and endpoints.

Everything stateful lives in app.services.oauth2 / app.services.oauth_clients; this module only
adapts our rows to Authlib's mixins and tightens Authlib's defaults (S256-only PKCE, exact
redirect URIs, refresh rotation with reuse detection).
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Request,
    TokenMixin,
    grants,
    scope_to_list,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode as _OpenIDCode
from flask import Flask, current_app, g
from flask import request as flask_request
from flask.wrappers import Request

from app.api.common import request_info
from app.extensions import db
from app.models.base import utcnow
from app.models.oauth import OAuthAuthorizationCode, OAuthClient, OAuthToken
from app.models.user import User
from app.services import keys as key_service
from app.services import oauth2 as oauth2_service
from app.services import oauth_clients as client_service

EXTENSION_KEY = "authy2_oauth2_server"
ALL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def issuer() -> str:
    """The issuer identifier: PUBLIC_BASE_URL without a trailing slash."""
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")


class ClientAdapter(ClientMixin):
    """An OAuthClient row seen through Authlib's ClientMixin."""

    id_token_signed_response_alg = "RS256"  # noqa: S105 - an algorithm name, not a secret

    def __init__(self, row: OAuthClient) -> None:
        """Wrap a client row."""
        self.row = row

    def get_client_id(self) -> str:
        """The public client identifier."""
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        """None: redirect_uri is always required (OIDC Core §3.1.2.1)."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes this client may have, in request order."""
        allowed = set(self.row.scope.split())
        return " ".join(s for s in scope_to_list(scope or "") or [] if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Byte-exact match against the registered list."""
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """Constant-time keyed-hash comparison."""
        return client_service.check_client_secret(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Only the registered authentication method is accepted, at every endpoint."""
        return method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        """Only `code`, and only for clients registered for authorization_code."""
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        """Whether the client is registered for this grant."""
        return grant_type in self.row.grant_types


class CodeAdapter(AuthorizationCodeMixin):
    """An authorization code row seen through Authlib's mixins."""

    def __init__(self, row: OAuthAuthorizationCode) -> None:
        """Wrap a code row."""
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        """The redirect URI of the authorization request."""
        return self.row.redirect_uri

    def get_scope(self) -> str:
        """The granted scope."""
        return self.row.scope

    def get_nonce(self) -> str | None:
        """The nonce of the authorization request (echoed into the ID token)."""
        return self.row.nonce

    def get_auth_time(self) -> int:
        """When the user authenticated (epoch seconds)."""
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> None:
        """No ACR levels are defined."""
        return None

    def get_amr(self) -> None:
        """No AMR values are asserted."""
        return None


class TokenAdapter(TokenMixin):
    """A token row (as its access or its refresh token) seen through Authlib's TokenMixin."""

    def __init__(
        self, row: OAuthToken, kind: str = "access_token", grace_response: dict | None = None
    ) -> None:
        """`kind` says which of the row's two tokens was presented."""
        self.row = row
        self.kind = kind
        self.grace_response = grace_response

    def check_client(self, client: ClientAdapter) -> bool:
        """A client only ever sees its own tokens."""
        return client is not None and self.row.client_pk == client.row.id

    def get_scope(self) -> str:
        """The token's scope."""
        return self.row.scope

    def get_expires_in(self) -> int:
        """Seconds of life left."""
        expires = self.expires_at()
        return max(0, int((expires - utcnow()).total_seconds())) if expires else 0

    def expires_at(self) -> Any:
        """Expiry of the presented token."""
        return self.row.refresh_expires_at if self.kind == "refresh_token" else self.row.access_expires_at

    def is_expired(self) -> bool:
        """Past its expiry."""
        expires = self.expires_at()
        return expires is None or utcnow() >= expires

    def is_revoked(self) -> bool:
        """Revoked, the client disabled, or (for a refresh token) already rotated."""
        if self.row.revoked_at is not None or not self.row.client.is_active:
            return True
        return self.kind == "refresh_token" and self.row.refresh_used_at is not None

    def get_user(self) -> User | None:
        """The resource owner (None for client_credentials)."""
        return db.session.get(User, self.row.user_id) if self.row.user_id else None

    def get_client(self) -> ClientAdapter:
        """The client the token was issued to."""
        return ClientAdapter(self.row.client)


def _user_of(user_id: Any) -> User | None:
    """An active user by id."""
    user = db.session.get(User, user_id)
    return user if user is not None and user.is_active else None


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only; required for public clients and clients registered with require_pkce."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        """Refuse a missing challenge (when required), `plain`, or a challenge without a method."""
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        client: OAuthClient = grant.request.client.row
        if not challenge:
            if method:
                raise InvalidRequestError("Missing 'code_challenge'")
            if client.require_pkce or client.is_public:
                raise InvalidRequestError(
                    "PKCE is required: send code_challenge with code_challenge_method=S256"
                )
            return
        if method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256 ('plain' is not supported)")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        """A verifier for a code issued without a challenge is a downgrade attempt: refuse it."""
        verifier = grant.request.form.get("code_verifier")
        code: CodeAdapter = grant.request.authorization_code
        if not code.row.code_challenge:
            if verifier:
                raise InvalidGrantError("code_verifier sent for a code issued without code_challenge")
            return
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """Authorization code grant over our storage; codes are redeemed (marked used) on lookup."""

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        """Scopes must be supported by the server and registered for the client."""
        super().validate_requested_scope()
        scope = self.request.payload.scope
        requested = set(scope_to_list(scope) or []) - client_service.IGNORED_SCOPES
        if requested and not requested <= set(self.request.client.row.scope.split()):
            raise InvalidScopeError("The client is not allowed to request this scope")

    def save_authorization_code(self, code: str, request: Any) -> None:
        """Persist the code with everything the token request must check."""
        data = request.payload.data
        oauth2_service.save_authorization_code(
            code,
            client=request.client.row,
            user=request.user,
            redirect_uri=request.payload.redirect_uri,
            scope=request.client.get_allowed_scope(request.payload.scope),
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=g.get("oauth_auth_time") or utcnow(),
        )

    def query_authorization_code(self, code: str, client: ClientAdapter) -> CodeAdapter | None:
        """Redeem the code (single use; reuse revokes what the first use issued)."""
        row = oauth2_service.redeem_authorization_code(code, client.row, request_info())
        return CodeAdapter(row) if row else None

    def delete_authorization_code(self, authorization_code: CodeAdapter) -> None:
        """Nothing to do: the code was marked used when redeemed, and kept to detect reuse."""

    def authenticate_user(self, authorization_code: CodeAdapter) -> User | None:
        """The (still active) user the code was issued to."""
        return _user_of(authorization_code.row.user_id)


class OpenIDCode(_OpenIDCode):
    """OIDC for the code grant: RS256 ID tokens with kid, signed by the active key."""

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        """Nonces are not refused on repeat: in the code flow the RP checks the ID token's nonce."""
        return False

    def get_jwt_config(self, grant: Any) -> dict[str, Any]:
        """Key, alg, issuer and lifetime of ID tokens."""
        key = key_service.active_signing_key(request_info())
        return {
            "key": key_service.private_key_pem(key),
            "alg": "RS256",
            "kid": key.kid,
            "iss": issuer(),
            "exp": int(current_app.config["OAUTH2_ID_TOKEN_LIFETIME"]),
        }

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        """Claims for the granted scope."""
        return UserInfo(oauth2_service.user_claims(user, scope))


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Refresh with rotation; a replayed token revokes its family except within the grace window."""

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> TokenAdapter | None:
        """Look the token up with reuse detection."""
        check = oauth2_service.check_refresh_token(refresh_token, self.request.client.row, request_info())
        if check.grace_response is not None:
            # Any row of the right client works as a carrier; reuse detection already passed.
            row = oauth2_service.find_by_refresh_token(refresh_token)
            return TokenAdapter(row, "refresh_token", grace_response=check.grace_response) if row else None
        return TokenAdapter(check.row, "refresh_token") if check.row else None

    def authenticate_user(self, refresh_token: TokenAdapter) -> User | None:
        """The (still active) user the token belongs to."""
        return _user_of(refresh_token.row.user_id)

    def create_token_response(self) -> tuple[int, Any, Any]:
        """Within the grace window, answer the same new pair again; otherwise rotate."""
        presented: TokenAdapter = self.request.refresh_token
        if presented.grace_response is not None:
            return 200, presented.grace_response, self.TOKEN_RESPONSE_HEADER
        return super().create_token_response()

    def revoke_old_credential(self, refresh_token: TokenAdapter) -> None:
        """Mark the old refresh token used and remember the new pair for the grace window."""
        oauth2_service.mark_rotated(refresh_token.row, g.oauth_last_token)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Machine-to-machine tokens for confidential clients registered for client_credentials."""

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS


def _query_token(token_string: str, hint: str | None) -> TokenAdapter | None:
    """Find a token by either of its strings, the hinted type first."""
    order = (
        ["refresh_token", "access_token"] if hint == "refresh_token" else ["access_token", "refresh_token"]
    )
    for kind in order:
        row = (
            oauth2_service.find_by_refresh_token(token_string)
            if kind == "refresh_token"
            else oauth2_service.find_by_access_token(token_string)
        )
        if row is not None:
            return TokenAdapter(row, kind)
    return None


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009: a refresh token revokes its family; an access token its own row."""

    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenAdapter | None:
        """Look the token up by either of its strings."""
        return _query_token(token_string, token_type_hint)

    def revoke_token(self, token: TokenAdapter, request: Any) -> None:
        """Revoke and audit."""
        oauth2_service.revoke_token(
            token.row, request_info(), whole_family=token.kind == "refresh_token", reason="client_revocation"
        )


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """RFC 7662 for confidential clients; another client's token is simply inactive."""

    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenAdapter | None:
        """Look the token up by either of its strings."""
        return _query_token(token_string, token_type_hint)

    def check_permission(self, token: TokenAdapter, client: ClientAdapter, request: Any) -> bool:
        """A client may introspect only its own tokens."""
        return token.check_client(client)

    def introspect_token(self, token: TokenAdapter) -> dict[str, Any]:
        """The RFC 7662 §2.2 response of an active token."""
        row = token.row
        expires = token.expires_at()
        payload: dict[str, Any] = {
            "active": True,
            "client_id": row.client.client_id,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "scope": row.scope,
            "iss": issuer(),
            "iat": int(row.issued_at.timestamp()),
            "exp": int(expires.timestamp()) if expires else None,
            "aud": row.client.client_id,
        }
        if row.user_id:
            payload["sub"] = str(row.user_id)
            user = db.session.get(User, row.user_id)
            if user is not None:
                payload["username"] = user.email
        return payload


class Authy2OAuth2Request(FlaskOAuth2Request):
    """Authlib's request wrapper; plain http is tolerated outside production (tests, local dev).

    In production Authlib's own rule stands: the provider must be reached over https (configure
    TRUSTED_PROXY_COUNT behind a TLS-terminating proxy so the scheme is seen correctly).
    """

    def __init__(self, request: Request, allow_http: bool) -> None:
        """Wrap the Flask request."""
        uri = request.url
        if allow_http and uri.startswith("http://"):
            uri = "https://" + uri[len("http://") :]
        OAuth2Request.__init__(self, method=request.method, uri=uri, headers=request.headers)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class Authy2AuthorizationServer(AuthorizationServer):
    """Authlib's Flask server bound to our storage."""

    def validate_requested_scope(self, scope: str | None) -> None:
        """Unknown scopes are invalid_scope; standard OIDC scopes we hold no data for are ignored."""
        requested = set(scope_to_list(scope) or [])
        if requested - set(client_service.SUPPORTED_SCOPES) - client_service.IGNORED_SCOPES:
            raise InvalidScopeError()

    def create_oauth2_request(self, request: Any) -> Authy2OAuth2Request:
        """Wrap the current Flask request."""
        allow_http = current_app.config.get("ENV_NAME") != "production"
        return Authy2OAuth2Request(flask_request, allow_http)

    def query_client(self, client_id: str) -> ClientAdapter | None:
        """An active client by client_id."""
        row = oauth2_service.find_client(client_id)
        return ClientAdapter(row) if row else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Persist a token response (hashes only), keeping refresh families together."""
        code: CodeAdapter | None = getattr(request, "authorization_code", None)
        old: TokenAdapter | None = getattr(request, "refresh_token", None)
        code_row = code.row if code else None
        old_row = old.row if old else None
        auth_time = code_row.auth_time if code_row else (old_row.auth_time if old_row else None)
        oauth2_service.store_token(
            token,
            client=request.client.row,
            user=request.user,
            grant_type=request.payload.grant_type,
            family_id=old_row.family_id if old_row else None,
            authorization_code=code_row,
            auth_time=auth_time,
            ctx=request_info(),
        )
        g.oauth_last_token = dict(token)


def _generate_token(
    grant_type: str,
    client: ClientAdapter,
    user: User | None = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    """Authlib token generator hook."""
    return oauth2_service.generate_bearer_token(
        grant_type, client.row, user, scope, expires_in, include_refresh_token
    )


def build_server(app: Flask) -> Authy2AuthorizationServer:
    """Create and configure the authorization server for `app`."""
    server = Authy2AuthorizationServer()
    server.init_app(app)
    server.scopes_supported = list(client_service.SUPPORTED_SCOPES)
    server.register_token_generator("default", _generate_token)
    server.register_grant(
        AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCode(require_nonce=False)]
    )
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    app.extensions[EXTENSION_KEY] = server
    return server


def get_server() -> Authy2AuthorizationServer:
    """The current app's authorization server."""
    return current_app.extensions[EXTENSION_KEY]

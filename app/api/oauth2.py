"""The OpenID provider's protocol endpoints and its login/consent/logout pages.

These routes answer in OAuth 2.0 / OIDC formats (JSON errors per RFC 6749 §5.2, redirects with
`error`, or an HTML page), never in the API envelope, because standard client libraries parse them.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import JoseError
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError
from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from app import errors
from app.api.common import clear_session_cookies, request_info, set_session_cookies
from app.api.oauth2_server import build_server, get_server, issuer
from app.envelope import DEPENDENCY_ERRORS
from app.extensions import db, limiter
from app.models.base import utcnow
from app.models.oauth import OAuthClient
from app.models.user import User
from app.security.csrf import csrf_token_for, csrf_valid
from app.security.tokens import constant_time_equals, keyed_hash
from app.services import auth as auth_service
from app.services import keys as key_service
from app.services import oauth2 as oauth2_service
from app.services import oauth_clients as client_service
from app.sessions import SessionRecord

logger = logging.getLogger(__name__)

bp = Blueprint("oauth2", __name__)

FORM_CSRF_COOKIE = "authy2_oauth_form"
INTERNAL_FIELDS = frozenset({"csrf_token", "email", "password", "decision"})
PAGE_ENDPOINTS = frozenset(
    {"oauth2.authorize", "oauth2.authorize_login", "oauth2.authorize_consent", "oauth2.logout"}
)
# Password guessing through the provider's login form, per client IP.
LOGIN_RATE_LIMIT = "10 per minute"


class RequestNotSupportedError(OAuth2Error):
    """OIDC Core §6: request objects are not supported."""

    error = "request_not_supported"


class RequestUriNotSupportedError(OAuth2Error):
    """OIDC Core §6: request_uri is not supported."""

    error = "request_uri_not_supported"


@bp.record_once
def _setup(state: Any) -> None:
    """Build the Authlib server for the app this blueprint is registered on."""
    build_server(state.app)


# --- error handling: OAuth formats, never the envelope -------------------------------------------


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - reporting the original error matters more
        logger.exception("rollback failed")


def _oauth_json_error(error: str, description: str, status: int) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(title: str, message: str, status: int = 400) -> Response:
    """The HTML error page shown instead of redirecting to an unverified client."""
    response = current_app.make_response(
        (render_template("oauth2/error.html", title=title, message=message), status)
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = _page_csp(None)
    return response


@bp.errorhandler(HTTPException)
def _handle_http(exc: HTTPException) -> Response:
    """werkzeug errors inside the provider (bad form body, too large, ...)."""
    _rollback()
    status = exc.code or 400
    if status == 429:
        response = (
            error_page("Too many attempts", "Please wait a minute and try again.", 429)
            if request.endpoint in PAGE_ENDPOINTS
            else _oauth_json_error("slow_down", "Too many requests", 429)
        )
        response.headers["Retry-After"] = "60"
        return response
    if request.endpoint in PAGE_ENDPOINTS:
        return error_page("Request error", exc.description or "The request could not be processed.", status)
    return _oauth_json_error("invalid_request", exc.name, status)


@bp.errorhandler(Exception)
def _handle_unexpected(exc: Exception) -> Response:
    """Anything unexpected: a generic OAuth server_error (or error page), logged with the request id."""
    _rollback()
    if isinstance(exc, DEPENDENCY_ERRORS) or isinstance(exc, errors.ServiceUnavailable):
        logger.error("dependency unavailable in the OpenID provider: %s", type(exc).__name__)
        if request.endpoint in PAGE_ENDPOINTS:
            return error_page("Temporarily unavailable", "Please try again in a moment.", 503)
        return _oauth_json_error("temporarily_unavailable", "Service temporarily unavailable", 503)
    logger.exception("unhandled error in the OpenID provider (request_id=%s)", g.get("request_id"))
    if request.endpoint in PAGE_ENDPOINTS:
        return error_page("Something went wrong", "The request could not be completed.", 500)
    return _oauth_json_error("server_error", "Internal server error", 500)


# --- discovery and keys ------------------------------------------------------------------------


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    """OpenID Provider Metadata (OIDC Discovery 1.0 §3)."""
    iss = issuer()
    doc = {
        "issuer": iss,
        "authorization_endpoint": f"{iss}/oauth2/authorize",
        "token_endpoint": f"{iss}/oauth2/token",
        "userinfo_endpoint": f"{iss}/oauth2/userinfo",
        "jwks_uri": f"{iss}/oauth2/jwks",
        "revocation_endpoint": f"{iss}/oauth2/revoke",
        "introspection_endpoint": f"{iss}/oauth2/introspect",
        "end_session_endpoint": f"{iss}/oauth2/logout",
        "scopes_supported": list(client_service.SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "name",
            "preferred_username",
            "updated_at",
            "email",
            "email_verified",
            "organizations",
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
    }
    response = jsonify(doc)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/oauth2/jwks")
def jwks() -> Response:
    """The JWK Set: public parts of the active and still-published retired signing keys."""
    document = key_service.jwks()
    db.session.commit()  # the first call may have generated the first key
    response = jsonify(document)
    # Short, so RPs that do not refetch on an unknown kid pick up a rotated key quickly.
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


# --- session and CSRF helpers for the pages ------------------------------------------------------


def _current_session() -> tuple[User, SessionRecord] | tuple[None, None]:
    """The Authy2 browser session from the cookie, if live."""
    token = request.cookies.get(current_app.config["AUTH_COOKIE_NAME"])
    if not token:
        return None, None
    resolved = auth_service.resolve_session(token)
    return resolved if resolved is not None else (None, None)


def _form_csrf_cookie() -> tuple[str, bool]:
    """The pre-login CSRF cookie value, and whether it must be (re)set."""
    value = request.cookies.get(FORM_CSRF_COOKIE)
    if value and 20 <= len(value) <= 100:
        return value, False
    return secrets.token_urlsafe(32), True


def _form_csrf_token(cookie_value: str) -> str:
    return keyed_hash(current_app.config["SECRET_KEY"], "oauth-form:" + cookie_value)


def _form_csrf_valid() -> bool:
    cookie = request.cookies.get(FORM_CSRF_COOKIE)
    presented = request.form.get("csrf_token")
    if not cookie or not presented:
        return False
    return constant_time_equals(_form_csrf_token(cookie), presented)


def _authz_params(drop_prompt_login: bool = False) -> list[tuple[str, str]]:
    """The authorization request's parameters (query and form), without our own form fields."""
    params = []
    for key, value in request.values.items(multi=True):
        if key in INTERNAL_FIELDS:
            continue
        if drop_prompt_login and key == "prompt":
            kept = " ".join(p for p in value.split() if p != "login")
            if kept:
                params.append((key, kept))
            continue
        if drop_prompt_login and key == "max_age":
            continue  # the user has just authenticated, which satisfies any max_age
        params.append((key, value))
    return params


def _page_csp(redirect_uri: str | None) -> str:
    """Page CSP whose form-action also allows the client's origin (Chromium checks redirects too)."""
    origins = "'self'"
    if redirect_uri:
        parts = urlsplit(redirect_uri)
        origins += f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"frame-ancestors 'none'; base-uri 'none'; form-action {origins}"
    )


def _page(template: str, redirect_uri: str | None, status: int = 200, **context: Any) -> Response:
    response = current_app.make_response((render_template(template, **context), status))
    response.headers["Content-Security-Policy"] = _page_csp(redirect_uri)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- authorization endpoint ----------------------------------------------------------------------


def _verify_client_and_redirect() -> tuple[OAuthClient, str] | Response:
    """The client and exact redirect_uri, or the 400 page: never redirect to an unverified URI."""
    client_ids = request.values.getlist("client_id")
    redirect_uris = request.values.getlist("redirect_uri")
    if len(client_ids) != 1 or not client_ids[0]:
        return error_page("Invalid client", "The request is missing a valid client_id.")
    client = oauth2_service.find_client(client_ids[0])
    if client is None:
        return error_page("Invalid client", "The client_id is not registered with this server.")
    if len(redirect_uris) != 1 or not redirect_uris[0]:
        return error_page("Invalid redirect URI", "The request must include exactly one redirect_uri.")
    if redirect_uris[0] not in client.redirect_uris:
        return error_page("Invalid redirect URI", "The redirect_uri is not registered for this client.")
    return client, redirect_uris[0]


def _with_iss(response: Response, redirect_uri: str) -> Response:
    """Add `iss` (RFC 9207) to every redirect back to the client (Authlib adds none itself here)."""
    location = response.headers.get("Location")
    if location and location.startswith(redirect_uri):
        response.headers["Location"] = add_params_to_uri(location, [("iss", issuer())])
    return response


def _error_response(error: OAuth2Error, redirect_uri: str) -> Response:
    """An OAuth error: redirected to the (verified) client when it carries a redirect_uri, else a page."""
    if not error.redirect_uri:
        return error_page("Invalid request", error.description or error.error)
    if error.state is None:
        error.state = request.values.get("state")
    status, body, headers = error()
    response = Response(body, status=status, headers=headers)
    return _with_iss(response, redirect_uri)


def _needs_login(record: SessionRecord | None) -> bool | OAuth2Error:
    """Whether the user must (re)authenticate: no session, prompt=login, or max_age exceeded."""
    if record is None:
        return True
    prompts = (request.values.get("prompt") or "").split()
    if "login" in prompts:
        return True
    max_age = request.values.get("max_age")
    if max_age is not None and max_age != "":
        if not max_age.isascii() or not max_age.isdigit() or len(max_age) > 10:
            return InvalidRequestError("max_age must be a non-negative integer")
        if (utcnow() - record.created_at).total_seconds() > int(max_age):
            return True
    return False


def _finish_authorization(grant: Any, user: User, record: SessionRecord, redirect_uri: str) -> Response:
    """Issue the code and redirect back with code, state and iss."""
    g.oauth_auth_time = record.created_at
    response = get_server().create_authorization_response(grant_user=user, grant=grant)
    if request.method == "POST" and response.status_code == 302:
        response.status_code = 303
    return _with_iss(response, redirect_uri)


@bp.route("/oauth2/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    """Authorization endpoint: verify client and redirect_uri, then login, consent, or a code."""
    verified = _verify_client_and_redirect()
    if isinstance(verified, Response):
        return verified
    client, redirect_uri = verified
    user, record = _current_session()
    need_login = _needs_login(record)
    if isinstance(need_login, OAuth2Error):
        need_login.redirect_uri = redirect_uri
        return _error_response(need_login, redirect_uri)
    server = get_server()
    try:
        grant = server.get_consent_grant(end_user=None if need_login else user)
    except OAuth2Error as error:
        return _error_response(error, redirect_uri)
    if "request" in request.values:
        return _error_response(RequestNotSupportedError(redirect_uri=redirect_uri), redirect_uri)
    if "request_uri" in request.values:
        return _error_response(RequestUriNotSupportedError(redirect_uri=redirect_uri), redirect_uri)
    prompts = (request.values.get("prompt") or "").split()
    if need_login:
        if "none" in prompts:  # reached only for max_age, Authlib already refused "no session"
            from authlib.oidc.core.errors import LoginRequiredError

            return _error_response(LoginRequiredError(redirect_uri=redirect_uri), redirect_uri)
        return _render_login(client, redirect_uri)
    assert user is not None and record is not None  # noqa: S101 - need_login is False only with a session
    scope = grant.request.client.get_allowed_scope(grant.request.payload.scope)
    db.session.commit()
    if "consent" in prompts or not oauth2_service.has_consent(user, client, scope):
        if "none" in prompts:
            return _error_response(ConsentRequiredError(redirect_uri=redirect_uri), redirect_uri)
        return _render_consent(client, redirect_uri, user, record, scope)
    response = _finish_authorization(grant, user, record, redirect_uri)
    db.session.commit()
    return response


def _render_login(
    client: OAuthClient, redirect_uri: str, error: str | None = None, status: int = 200
) -> Response:
    cookie, must_set = _form_csrf_cookie()
    query = urlencode(_authz_params())
    response = _page(
        "oauth2/login.html",
        redirect_uri,
        status,
        client=client,
        action=f"/oauth2/authorize/login?{query}",
        csrf_token=_form_csrf_token(cookie),
        error=error,
        email=request.form.get("email", "")
        if request.method == "POST"
        else request.values.get("login_hint", ""),
    )
    if must_set:
        response.set_cookie(
            FORM_CSRF_COOKIE,
            cookie,
            httponly=True,
            secure=current_app.config["AUTH_COOKIE_SECURE"],
            samesite="Lax",
            path="/oauth2/",
            max_age=3600,
        )
    return response


def _render_consent(
    client: OAuthClient, redirect_uri: str, user: User, record: SessionRecord, scope: str
) -> Response:
    query = urlencode(_authz_params())
    return _page(
        "oauth2/consent.html",
        redirect_uri,
        client=client,
        user=user,
        scopes=scope.split(),
        action=f"/oauth2/authorize/consent?{query}",
        csrf_token=csrf_token_for(current_app.config["SECRET_KEY"], record.token_hash),
    )


@bp.post("/oauth2/authorize/login")
@limiter.limit(LOGIN_RATE_LIMIT)
def authorize_login() -> Response:
    """The login form: check CSRF and the password, start the session, 303 back to authorize."""
    verified = _verify_client_and_redirect()
    if isinstance(verified, Response):
        return verified
    client, redirect_uri = verified
    if not _form_csrf_valid():
        return _render_login(client, redirect_uri, "Your form expired. Please try again.", 403)
    email = (request.form.get("email") or "").strip()
    password = request.form.get("password") or ""
    if (
        not email
        or not password
        or len(email) > 320
        or len(password.encode("utf-8")) > 72
        or "\x00" in email + password
    ):
        return _render_login(client, redirect_uri, "Invalid email or password.", 401)
    try:
        result = auth_service.login_with_password(email, password, request_info())
    except errors.InvalidCredentials:
        db.session.commit()  # keep the auth.login.failed audit row
        return _render_login(client, redirect_uri, "Invalid email or password.", 401)
    db.session.commit()
    target = "/oauth2/authorize?" + urlencode(_authz_params(drop_prompt_login=True))
    response = current_app.make_response(("", 303))
    response.headers["Location"] = target
    set_session_cookies(response, result.token, result.session)
    return response


@bp.post("/oauth2/authorize/consent")
def authorize_consent() -> Response:
    """The consent form: allow issues a code (and remembers consent), deny answers access_denied."""
    verified = _verify_client_and_redirect()
    if isinstance(verified, Response):
        return verified
    client, redirect_uri = verified
    user, record = _current_session()
    if user is None or record is None:
        return error_page("Session expired", "Please start signing in again from the application.", 401)
    if not csrf_valid(current_app.config["SECRET_KEY"], record.token_hash, request.form.get("csrf_token")):
        return error_page("Form expired", "Please start signing in again from the application.", 403)
    server = get_server()
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return _error_response(error, redirect_uri)
    if request.form.get("decision") != "allow":
        response = server.create_authorization_response(grant_user=None, grant=grant)
        response.status_code = 303 if response.status_code == 302 else response.status_code
        return _with_iss(response, redirect_uri)
    scope = grant.request.client.get_allowed_scope(grant.request.payload.scope)
    oauth2_service.grant_consent(user, client, scope, request_info())
    response = _finish_authorization(grant, user, record, redirect_uri)
    db.session.commit()
    return response


# --- token, revocation, introspection, userinfo --------------------------------------------------


@bp.post("/oauth2/token")
def token() -> Response:
    """Token endpoint: authorization_code (+PKCE), refresh_token (rotation), client_credentials."""
    response = get_server().create_token_response()
    # Errors can carry intended writes too (reuse detection revokes a family), so always commit.
    db.session.commit()
    return response


@bp.route("/oauth2/token", methods=["GET", "PUT", "PATCH", "DELETE"])
@bp.route("/oauth2/revoke", methods=["GET", "PUT", "PATCH", "DELETE"])
@bp.route("/oauth2/introspect", methods=["GET", "PUT", "PATCH", "DELETE"])
def post_only() -> Response:
    """Token, revocation and introspection take POST only (answered in OAuth's error format)."""
    response = _oauth_json_error("invalid_request", "Use POST", 405)
    response.headers["Allow"] = "POST"
    return response


@bp.post("/oauth2/revoke")
def revoke() -> Response:
    """RFC 7009 token revocation (a client may revoke only its own tokens)."""
    response = get_server().create_endpoint_response("revocation")
    db.session.commit()
    return response


@bp.post("/oauth2/introspect")
def introspect() -> Response:
    """RFC 7662 token introspection (a client sees only its own tokens)."""
    response = get_server().create_endpoint_response("introspection")
    db.session.commit()
    return response


def _bearer_error(status: int, error: str | None, description: str | None = None) -> Response:
    challenge = 'Bearer realm="authy2"'
    if error:
        challenge += f', error="{error}"'
        if description:
            challenge += f', error_description="{description}"'
    body = {"error": error, "error_description": description} if error else {}
    response = jsonify(body)
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge
    return response


@bp.route("/oauth2/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    """UserInfo (OIDC Core §5.3): access token in the Authorization header, or the POST body."""
    header_token = None
    header = request.headers.get("Authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return _bearer_error(401, "invalid_request", "Use the Bearer scheme")
        header_token = value.strip()
    body_token = None
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        body_token = request.form.get("access_token")
    if header_token and body_token:
        return _bearer_error(400, "invalid_request", "Send the token in one place only")
    presented = header_token or body_token
    if not presented:
        return _bearer_error(401, None)
    row = oauth2_service.find_by_access_token(presented)
    if not oauth2_service.access_token_is_live(row) or row is None or row.user_id is None:
        return _bearer_error(401, "invalid_token", "The access token is invalid or expired")
    if "openid" not in row.scope.split():
        return _bearer_error(403, "insufficient_scope", "The openid scope is required")
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        return _bearer_error(401, "invalid_token", "The access token is invalid or expired")
    response = jsonify(oauth2_service.user_claims(user, row.scope))
    response.headers["Cache-Control"] = "no-store"
    return response


# --- RP-initiated logout --------------------------------------------------------------------------


def _decode_id_token_hint(hint: str) -> dict[str, Any] | None:
    """Claims of an ID token we signed (RS256 only, our issuer; expiry tolerated per the spec)."""
    if len(hint) > 8192:
        return None
    try:
        key_set = JsonWebKey.import_key_set(key_service.jwks())
        claims = JsonWebToken(["RS256"]).decode(hint, key_set)
    except (JoseError, ValueError, KeyError, TypeError):
        return None
    if claims.get("iss") != issuer() or not claims.get("sub"):
        return None
    return dict(claims)


def _logout_target() -> tuple[OAuthClient | None, str | None, dict[str, Any] | None] | Response:
    """Validate id_token_hint, client_id and post_logout_redirect_uri; a 400 page when invalid."""
    values = request.values
    hint = values.get("id_token_hint")
    client_id = values.get("client_id")
    target = values.get("post_logout_redirect_uri")
    claims = None
    client = None
    if hint:
        claims = _decode_id_token_hint(hint)
        if claims is None:
            return error_page("Invalid logout request", "The id_token_hint is not valid.")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else list(aud or [])
        if client_id and client_id not in audiences:
            return error_page("Invalid logout request", "client_id does not match the id_token_hint.")
        client = oauth2_service.find_client(client_id or (audiences[0] if audiences else None))
    elif client_id:
        client = oauth2_service.find_client(client_id)
    if target is not None:
        if client is None or target not in client.post_logout_redirect_uris:
            return error_page("Invalid logout request", "The post_logout_redirect_uri is not registered.")
    return client, target, claims


def _after_logout(target: str | None) -> Response:
    if target:
        params = [("state", request.values["state"])] if request.values.get("state") else []
        response = current_app.make_response(("", 303 if request.method == "POST" else 302))
        response.headers["Location"] = add_params_to_uri(target, params)
    else:
        response = _page("oauth2/logged_out.html", None)
    clear_session_cookies(response)
    return response


@bp.route("/oauth2/logout", methods=["GET", "POST"])
def logout() -> Response:
    """RP-initiated logout: with a valid id_token_hint log out at once; otherwise ask to confirm."""
    checked = _logout_target()
    if isinstance(checked, Response):
        return checked
    client, target, claims = checked
    user, record = _current_session()
    confirmed = request.method == "POST" and request.form.get("decision") == "logout"
    if confirmed and record is not None:
        if not csrf_valid(
            current_app.config["SECRET_KEY"], record.token_hash, request.form.get("csrf_token")
        ):
            return error_page("Form expired", "Please try logging out again.", 403)
    if user is not None and record is not None:
        hinted = claims is not None and claims.get("sub") == str(user.id)
        if not hinted and not confirmed:
            query = urlencode(
                [(k, v) for k, v in request.values.items(multi=True) if k not in INTERNAL_FIELDS]
            )
            return _page(
                "oauth2/logout_confirm.html",
                target,
                client=client,
                action=f"/oauth2/logout?{query}",
                csrf_token=csrf_token_for(current_app.config["SECRET_KEY"], record.token_hash),
            )
        auth_service.logout(user, record, request_info())
        db.session.commit()
    return _after_logout(target)

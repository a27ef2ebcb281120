"""Social login (Google, GitHub, Microsoft) with Authlib's Flask client, and the user's linked identities.

The browser legs are redirects: every failure at or after the provider lands on FRONTEND_URL with
`?error=<code>`, never on an error page or a 500. Authlib keeps state, nonce and the PKCE verifier
in Flask's signed session cookie (HttpOnly, SameSite=Lax, Secure by config).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App
from authlib.jose.errors import JoseError
from flask import Blueprint, Response, current_app, redirect, request, session
from marshmallow import Schema, fields

from app import errors
from app.api.common import authenticate, current_user, login_required, request_info, set_session_cookies
from app.envelope import success
from app.extensions import db
from app.services import federation
from app.services.context import RequestInfo
from app.services.federation import ExternalProfile, FederationError

logger = logging.getLogger(__name__)

bp = Blueprint("external", __name__, url_prefix="/api/v1")

FLOW_KEY = "authy2_fed:{state}"
MAX_STATE_LENGTH = 128
MAX_PENDING_FLOWS = 4


class IdentitySchema(Schema):
    """A linked identity as its owner sees it."""

    id = fields.UUID()
    provider = fields.String()
    subject = fields.String()
    email = fields.String(allow_none=True)
    email_verified = fields.Boolean()
    created_at = fields.DateTime()
    last_login_at = fields.DateTime(allow_none=True)


def frontend_redirect(url: str | None = None, **params: str) -> Response:
    """A 302 to FRONTEND_URL (or an already-vetted `url`) with extra query parameters."""
    target = url or current_app.config["FRONTEND_URL"]
    if params:
        parts = urlsplit(target)
        query = "&".join(q for q in (parts.query, urlencode(params)) if q)
        target = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    return redirect(target, 302)


def fail_to_frontend(
    source: str, exc: FederationError, ctx: RequestInfo, organization_id: uuid.UUID | None = None
) -> Response:
    """Roll back, audit the refusal (committed on its own) and send the browser to FRONTEND_URL."""
    db.session.rollback()
    logger.info("external sign-in refused: source=%s reason=%s %s", source, exc.code, exc.detail)
    federation.record_failure(source, exc.code, ctx, organization_id)
    db.session.commit()
    return frontend_redirect(error=exc.code)


def _wants_link() -> bool:
    return request.args.get("link", "").lower() in {"1", "true", "yes"}


def start_flow(client: FlaskOAuth2App, redirect_path: str, extra: dict[str, Any]) -> Response:
    """Create the authorization URL (state, nonce for OIDC, PKCE); Authlib keeps the flow's secrets
    server-side (single-use store), the session cookie only binds the state to this browser."""
    redirect_uri = federation.callback_url(redirect_path)
    try:
        rv = client.create_authorization_url(redirect_uri)
    except Exception as exc:  # noqa: BLE001 - discovery is remote input: unreachable, not JSON, wrong shape
        logger.warning("provider discovery failed: %s", type(exc).__name__)
        raise errors.ServiceUnavailable("The sign-in provider is unavailable, try again later") from exc
    prune_pending_flows()
    client.save_authorize_data(redirect_uri=redirect_uri, **rv)
    session[FLOW_KEY.format(state=rv["state"])] = {**extra, "started": time.time()}
    return redirect(rv["url"], 302)


def prune_pending_flows(keep: int = MAX_PENDING_FLOWS) -> None:
    """Forget the oldest unfinished flows so abandoned logins cannot grow the cookie past 4 KB."""
    pending = [
        (value.get("started", 0) if isinstance(value, dict) else 0, key.split(":", 1)[1])
        for key, value in session.items()
        if key.startswith("authy2_fed:")
    ]
    pending.sort()
    for _, state in pending[: max(0, len(pending) - keep + 1)]:
        session.pop(FLOW_KEY.format(state=state), None)
        for key in [k for k in session if k.startswith("_state_") and k.endswith("_" + state)]:
            session.pop(key, None)


def pop_flow() -> tuple[str | None, dict[str, Any] | None]:
    """The state of this callback and the flow remembered for it (removed: a state is single-use)."""
    state = request.args.get("state")
    if not state or len(state) > MAX_STATE_LENGTH:
        return None, None
    extra = session.pop(FLOW_KEY.format(state=state), None)
    return state, extra if isinstance(extra, dict) else None


def exchange_code(client: FlaskOAuth2App, **kwargs: Any) -> dict[str, Any]:
    """Let Authlib check state, swap the code (with the PKCE verifier) and verify the ID token."""
    try:
        return client.authorize_access_token(**kwargs)
    except MismatchingStateError as exc:
        raise FederationError("invalid_state") from exc
    except OAuthError as exc:
        raise FederationError("provider_error", f"token endpoint: {exc.error}") from exc
    except JoseError as exc:
        # Bad signature, issuer, audience, expiry or nonce in the ID token.
        raise FederationError("invalid_token", type(exc).__name__) from exc
    except Exception as exc:  # noqa: BLE001 - anything else the provider's answers provoke is its error
        raise FederationError("provider_error", type(exc).__name__) from exc


def finish_sign_in(profile: ExternalProfile, auth_method: str, extra: dict[str, Any]) -> Response:
    """Link (when the flow began signed in) or sign in, commit, and redirect to the vetted `next`."""
    ctx = request_info()
    next_url = federation.safe_next(extra.get("next"), current_app.config["FRONTEND_URL"])
    link_user_id = extra.get("link_user_id")
    if link_user_id:
        try:
            user, _ = authenticate()
        except errors.AppError as exc:
            raise FederationError("login_required", "the session that started linking is gone") from exc
        if str(user.id) != link_user_id:
            raise FederationError("login_required", "a different user is signed in now")
        federation.link_identity(user, profile, ctx)
        db.session.commit()
        return frontend_redirect(next_url, linked=profile.provider.split(":", 1)[0])
    result = federation.sign_in(profile, auth_method, ctx)
    db.session.commit()
    response = frontend_redirect(next_url)
    set_session_cookies(response, result.token, result.session)
    return response


def flow_extra(source: str) -> dict[str, Any]:
    """What the callback needs to know: where to go next and whether this links to the signed-in user."""
    extra: dict[str, Any] = {
        "source": source,
        "next": federation.safe_next(request.args.get("next"), current_app.config["FRONTEND_URL"]),
    }
    if _wants_link():
        user, _ = authenticate()
        extra["link_user_id"] = str(user.id)
    return extra


@bp.get("/auth/external/providers")
def list_providers() -> Response:
    """The social providers that are configured on this server."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # config lookups only
    names = [p for p in federation.SOCIAL_PROVIDERS if federation.provider_configured(app, p)]
    return success({"providers": names}, "Sign-in providers")


@bp.get("/auth/external/<provider>/login")
def external_login(provider: str) -> Response:
    """302 to the provider with state, nonce (OIDC) and PKCE; `next` must be under FRONTEND_URL.

    `link=1` (with a session cookie) links the provider to the signed-in account instead.
    """
    client = federation.social_client(provider)
    response = start_flow(client, f"/api/v1/auth/external/{provider}/callback", flow_extra(provider))
    db.session.commit()  # the flow's server-side state, when it is kept in SQL
    return response


@bp.get("/auth/external/<provider>/callback")
def external_callback(provider: str) -> Response:
    """The provider's redirect back: validate, find/create/link the user, open a session, 302 onwards."""
    client = federation.social_client(provider)
    ctx = request_info()
    state, extra = pop_flow()
    try:
        if request.args.get("error"):
            if state:
                client.framework.clear_state_data(session, state)
            code = "access_denied" if request.args.get("error") == "access_denied" else "provider_error"
            raise FederationError(code, "the provider returned an error")
        if state is None or extra is None or extra.get("source") != provider:
            raise FederationError("invalid_state", "missing, unknown or reused state")
        if not request.args.get("code"):
            raise FederationError("provider_error", "no authorization code")
        kwargs: dict[str, Any] = {}
        if provider == "microsoft":
            try:
                issuer = str(client.load_server_metadata().get("issuer", ""))
            except (requests.RequestException, ValueError) as exc:
                raise FederationError("provider_error", "discovery unavailable") from exc
            kwargs["claims_options"] = {
                "iss": {"essential": True, "validate": federation.microsoft_issuer_validator(issuer)}
            }
        token = exchange_code(client, **kwargs)
        if provider in federation.OIDC_PROVIDERS:
            claims = token.get("userinfo")
            if not claims:
                raise FederationError("invalid_token", "the provider returned no ID token")
            profile = (
                federation.profile_from_google(dict(claims))
                if provider == "google"
                else federation.profile_from_microsoft(dict(claims))
            )
        else:
            profile = federation.profile_from_github(client, token)
        return finish_sign_in(profile, provider, extra)
    except FederationError as exc:
        return fail_to_frontend(provider, exc, ctx)


@bp.get("/users/me/identities")
@login_required
def list_identities() -> Response:
    """The caller's linked external identities."""
    items = IdentitySchema(many=True).dump(federation.list_identities(current_user()))
    return success({"identities": items}, "Linked identities", meta={"total": len(items)})


@bp.delete("/users/me/identities/<identity_id>")
@login_required
def unlink_identity(identity_id: str) -> Response:
    """Unlink one identity; 409 if it is the caller's last way to sign in."""
    federation.unlink_identity(current_user(), identity_id, request_info())
    db.session.commit()
    return success(None, "Identity unlinked")

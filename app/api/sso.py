"""Enterprise SSO: org admins configure a SAML or OIDC connection; members sign in through it.

Browser legs (login, ACS, OIDC callback) end with a 302 to FRONTEND_URL, with `?error=<code>` on
any failure. The SAML ACS is a cross-site POST, so it relies on no cookie: the AuthnRequest id it
answers is looked up server-side.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from flask import Blueprint, Response, current_app, redirect, request

from app import errors
from app.api.common import current_user, load, login_required, request_info, set_session_cookies
from app.api.external import exchange_code, fail_to_frontend, frontend_redirect, pop_flow, start_flow
from app.envelope import success
from app.extensions import db
from app.models.organization import Organization
from app.models.sso import SsoConnection
from app.schemas.sso import DiscoverSchema, SsoConnectionPutSchema, SsoConnectionSchema
from app.services import federation, saml
from app.services import sso as sso_service
from app.services.federation import FederationError

logger = logging.getLogger(__name__)

bp = Blueprint("sso", __name__, url_prefix="/api/v1")


def _dump(org: Organization, conn: SsoConnection) -> dict[str, Any]:
    schema = SsoConnectionSchema(public_base=current_app.config["PUBLIC_BASE_URL"], slug=org.slug)
    return schema.dump(conn)


def _next_arg() -> str:
    return federation.safe_next(request.args.get("next"), current_app.config["FRONTEND_URL"])


@bp.get("/organizations/<org_id>/sso")
@login_required
def get_sso(org_id: str) -> Response:
    """The organization's SSO connection (admins and owners; secrets never shown)."""
    org, conn = sso_service.get_connection(org_id, current_user())
    return success({"connection": _dump(org, conn)}, "SSO connection")


@bp.put("/organizations/<org_id>/sso")
@login_required
def put_sso(org_id: str) -> Response:
    """Create or replace the organization's SAML or OIDC connection."""
    data = load(SsoConnectionPutSchema())
    conn = sso_service.put_connection(org_id, current_user(), data, request_info())
    db.session.commit()
    org = db.session.get(Organization, conn.organization_id)
    return success({"connection": _dump(org, conn)}, "SSO connection saved")


@bp.delete("/organizations/<org_id>/sso")
@login_required
def delete_sso(org_id: str) -> Response:
    """Remove the organization's SSO connection."""
    sso_service.delete_connection(org_id, current_user(), request_info())
    db.session.commit()
    return success(None, "SSO connection deleted")


@bp.post("/auth/sso/discover")
def discover() -> Response:
    """Home-realm discovery: where to send a user who typed this email."""
    data = load(DiscoverSchema())
    found = sso_service.discover(data["email"])
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    if found is None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # config lookups only
        providers = [p for p in federation.SOCIAL_PROVIDERS if federation.provider_configured(app, p)]
        return success({"sso": False, "methods": ["password", *providers]}, "No SSO for this domain")
    org, conn = found
    return success(
        {
            "sso": True,
            "type": conn.type,
            "organization": {"name": org.name, "slug": org.slug},
            "login_url": f"{base}/api/v1/auth/{conn.type}/{org.slug}/login",
        },
        "Single sign-on required",
    )


# --------------------------------------------------------------------------------------- SAML


@bp.get("/auth/saml/<org_slug>/metadata")
def saml_metadata(org_slug: str) -> Response:
    """The SP metadata XML (signed) for the organization's IdP administrator."""
    org, conn = sso_service.enabled_connection_by_slug(org_slug, "saml")
    try:
        xml = saml.metadata_xml(org, conn)
    except ValueError as exc:
        logger.warning("invalid SP metadata for a connection: %s", exc)
        raise errors.InternalError("SP metadata could not be built") from exc
    return Response(xml, status=200, mimetype="application/samlmetadata+xml")


@bp.get("/auth/saml/<org_slug>/login")
def saml_login(org_slug: str) -> Response:
    """302 to the IdP with a signed AuthnRequest (its id is remembered for the ACS)."""
    org, conn = sso_service.enabled_connection_by_slug(org_slug, "saml")
    url = saml.login_redirect(org, conn, _next_arg())
    db.session.commit()
    return redirect(url, 302)


@bp.post("/auth/saml/<org_slug>/acs")
def saml_acs(org_slug: str) -> Response:
    """Assertion consumer: validate the IdP's response, sign the member in, 302 to FRONTEND_URL."""
    org, conn = sso_service.enabled_connection_by_slug(org_slug, "saml")
    ctx = request_info()
    source = f"saml:{conn.id}"
    try:
        form = {k: v for k, v in request.form.items() if k in {"SAMLResponse", "RelayState"}}
        result, next_url = saml.consume_response(org, conn, form, ctx)
        db.session.commit()
    except FederationError as exc:
        return fail_to_frontend(source, exc, ctx, org.id)
    response = frontend_redirect(federation.safe_next(next_url, current_app.config["FRONTEND_URL"]))
    set_session_cookies(response, result.token, result.session)
    return response


# --------------------------------------------------------------------------------------- OIDC


def _oidc_client(conn: SsoConnection) -> Any:
    return federation.build_oidc_client(
        f"sso-{conn.id}",
        conn.oidc_client_id or "",
        sso_service.oidc_client_secret(conn),
        conn.oidc_discovery_url or "",
        conn.oidc_scopes or "openid email profile",
    )


@bp.get("/auth/oidc/<org_slug>/login")
def oidc_login(org_slug: str) -> Response:
    """302 to the organization's OIDC provider (state, nonce, PKCE), with the same client as social login."""
    _, conn = sso_service.enabled_connection_by_slug(org_slug, "oidc")
    extra = {"source": f"oidc:{conn.id}", "next": _next_arg()}
    response = start_flow(_oidc_client(conn), f"/api/v1/auth/oidc/{org_slug}/callback", extra)
    db.session.commit()
    return response


@bp.get("/auth/oidc/<org_slug>/callback")
def oidc_callback(org_slug: str) -> Response:
    """The IdP's redirect back: validate the ID token (issuer pinned), JIT/link the member, 302 onwards."""
    org, conn = sso_service.enabled_connection_by_slug(org_slug, "oidc")
    ctx = request_info()
    source = f"oidc:{conn.id}"
    client = _oidc_client(conn)
    _, extra = pop_flow()
    try:
        if request.args.get("error"):
            code = "access_denied" if request.args.get("error") == "access_denied" else "provider_error"
            raise FederationError(code, "the IdP returned an error")
        if extra is None or extra.get("source") != source:
            raise FederationError("invalid_state", "missing, unknown or reused state")
        try:
            issuer = client.load_server_metadata().get("issuer")
        except (requests.RequestException, ValueError) as exc:
            raise FederationError("provider_error", "discovery unavailable") from exc
        if issuer != conn.oidc_issuer:
            raise FederationError("provider_error", "discovery issuer differs from the configured issuer")
        token = exchange_code(
            client, claims_options={"iss": {"essential": True, "values": [conn.oidc_issuer]}}
        )
        claims = token.get("userinfo")
        if not claims:
            raise FederationError("invalid_token", "the IdP returned no ID token")
        claims = dict(claims)
        sub = claims.get("sub")
        profile = sso_service.profile_from_assertion(conn, sub if isinstance(sub, str) else "", claims)
        result = sso_service.sso_sign_in(org, conn, profile, ctx)
        db.session.commit()
    except FederationError as exc:
        return fail_to_frontend(source, exc, ctx, org.id)
    response = frontend_redirect(federation.safe_next(extra.get("next"), current_app.config["FRONTEND_URL"]))
    set_session_cookies(response, result.token, result.session)
    return response

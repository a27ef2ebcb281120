"""SAML 2.0 service provider on python3-saml, in strict mode.

Enforced by python3-saml with these settings: XML schema, signed assertions (no unsigned or
wrongly-signed ones, no signature wrapping), audience (our entity id), Destination and Recipient
(our ACS URL), NotBefore/NotOnOrAfter, InResponseTo. Enforced here: the InResponseTo must be an
AuthnRequest we sent for this connection and not answered yet; unsolicited responses only when
the connection allows them; assertion ids are single-use (replay cache in Redis or SQL).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.errors import OneLogin_Saml2_Error
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from app import errors
from app.models.organization import Organization
from app.models.sso import SsoConnection
from app.services import sso
from app.services.auth import LoginResult
from app.services.context import RequestInfo
from app.services.federation import FederationError

logger = logging.getLogger(__name__)

MAX_SAML_RESPONSE = 512 * 1024


def sp_base(org: Organization) -> str:
    """The base URL of an organization's SP endpoints."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + f"/api/v1/auth/saml/{org.slug}"


def settings_for(org: Organization, conn: SsoConnection) -> dict[str, Any]:
    """python3-saml settings for one connection (strict, signed assertions required, SHA-256)."""
    base = sp_base(org)
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": base + "/metadata",
            "assertionConsumerService": {"url": base + "/acs", "binding": C.BINDING_HTTP_POST},
            "NameIDFormat": C.NAMEID_UNSPECIFIED,
            "x509cert": conn.sp_certificate or "",
            "privateKey": sso.sp_private_key(conn),
        },
        "idp": {
            "entityId": conn.idp_entity_id or "",
            "singleSignOnService": {"url": conn.idp_sso_url or "", "binding": C.BINDING_HTTP_REDIRECT},
            "x509cert": conn.idp_x509_cert or "",
        },
        "security": {
            "authnRequestsSigned": True,
            "wantAssertionsSigned": True,
            "wantMessagesSigned": False,
            "wantAssertionsEncrypted": False,
            "wantNameId": True,
            "wantNameIdEncrypted": False,
            "wantAttributeStatement": False,
            "signMetadata": True,
            "requestedAuthnContext": False,
            "rejectDeprecatedAlgorithm": True,
            "allowRepeatAttributeName": False,
            "rejectUnsolicitedResponsesWithInResponseTo": True,
            "signatureAlgorithm": C.RSA_SHA256,
            "digestAlgorithm": C.SHA256,
        },
    }


def request_data(path: str, get: dict[str, str], post: dict[str, str]) -> dict[str, Any]:
    """The request as python3-saml sees it, built from PUBLIC_BASE_URL so Destination checks are exact."""
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    https = base.scheme == "https"
    host = base.hostname or "localhost"
    if base.port and base.port != (443 if https else 80):
        host = f"{host}:{base.port}"
    return {
        "https": "on" if https else "off",
        "http_host": host,
        "script_name": base.path.rstrip("/") + path,
        "get_data": get,
        "post_data": post,
    }


def metadata_xml(org: Organization, conn: SsoConnection) -> str:
    """The SP metadata, signed with the SP key; ValueError if python3-saml finds it invalid."""
    settings = OneLogin_Saml2_Settings(settings_for(org, conn), sp_validation_only=True)
    xml = settings.get_sp_metadata()
    problems = settings.validate_metadata(xml)
    if problems:
        raise ValueError(", ".join(problems))
    return xml.decode("utf-8") if isinstance(xml, bytes) else xml


def login_redirect(org: Organization, conn: SsoConnection, next_url: str) -> str:
    """The IdP URL carrying a signed AuthnRequest; its id is remembered for the ACS."""
    try:
        auth = OneLogin_Saml2_Auth(
            request_data(f"/api/v1/auth/saml/{org.slug}/login", {}, {}), settings_for(org, conn)
        )
        url = auth.login(return_to="")
    except OneLogin_Saml2_Error as exc:
        logger.warning("SAML connection unusable: %s", exc)
        raise errors.ServiceUnavailable("This organization's SSO connection is misconfigured") from exc
    sso.remember_flow("saml", conn, auth.get_last_request_id(), {"next": next_url})
    return url


def _in_response_to(settings: dict[str, Any], saml_response: str) -> str | None:
    """The InResponseTo of a response (parsed by python3-saml: no DTDs, no entities)."""
    try:
        parsed = OneLogin_Saml2_Response(
            OneLogin_Saml2_Settings(settings, sp_validation_only=True), saml_response
        )
    except Exception as exc:  # noqa: BLE001 - malformed base64/XML, DTDs and entities all raise here
        raise FederationError("invalid_response", f"unparseable response: {type(exc).__name__}") from exc
    value = parsed.document.get("InResponseTo")
    return value if value else None


def consume_response(
    org: Organization, conn: SsoConnection, form: dict[str, str], ctx: RequestInfo
) -> tuple[LoginResult, str | None]:
    """Validate a POSTed SAMLResponse and sign its subject in: (session, `next` of the flow)."""
    saml_response = form.get("SAMLResponse") or ""
    if not saml_response or len(saml_response) > MAX_SAML_RESPONSE:
        raise FederationError("invalid_response", "missing or oversized SAMLResponse")
    settings = settings_for(org, conn)
    in_response_to = _in_response_to(settings, saml_response)
    next_url: str | None = None
    if in_response_to is not None:
        flow = sso.consume_flow("saml", conn, in_response_to)
        if flow is None:
            raise FederationError("unknown_request", "InResponseTo is not an outstanding request")
        next_url = flow.get("next") if isinstance(flow.get("next"), str) else None
    elif not conn.allow_idp_initiated:
        raise FederationError("unsolicited_response", "IdP-initiated sign-in is not allowed")
    auth = OneLogin_Saml2_Auth(
        request_data(f"/api/v1/auth/saml/{org.slug}/acs", {}, {"SAMLResponse": saml_response}), settings
    )
    try:
        auth.process_response(request_id=in_response_to)
    except Exception as exc:  # noqa: BLE001 - python3-saml and lxml raise many types on hostile input
        raise FederationError("invalid_response", f"{type(exc).__name__}") from exc
    if auth.get_errors() or not auth.is_authenticated():
        raise FederationError("invalid_response", str(auth.get_last_error_reason())[:200])
    if not sso.consume_assertion_id(
        conn, auth.get_last_assertion_id(), auth.get_last_assertion_not_on_or_after()
    ):
        raise FederationError("replayed_assertion", "assertion id already used")
    nameid = auth.get_nameid() or ""
    attributes = dict(auth.get_attributes() or {})
    if "email" not in attributes and "@" in nameid:
        attributes.setdefault("__nameid__", [nameid])
    profile = sso.profile_from_assertion(
        conn, nameid, attributes, email_default="email" if "email" in attributes else "__nameid__"
    )
    return sso.sso_sign_in(org, conn, profile, ctx), next_url

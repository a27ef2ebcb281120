"""Schemas for enterprise SSO connections and home-realm discovery."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from app.schemas.fields import Email, SafeString

MAPPABLE = ("email", "name", "first_name", "last_name")


def _pem_body(raw: str) -> str:
    """A certificate as PEM: accepts full PEM or the bare base64 body IdP metadata carries."""
    text = raw.strip()
    if "-----BEGIN CERTIFICATE-----" in text:
        return text
    body = "".join(text.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def parse_certificate(raw: str) -> str:
    """Validate an X.509 certificate and return it as PEM; ValidationError if it is not one."""
    pem = _pem_body(raw)
    try:
        x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValidationError("Not a valid PEM or base64 X.509 certificate.") from exc
    return pem


def parse_idp_metadata(xml: str) -> dict[str, str]:
    """entity id, SSO URL (HTTP-Redirect) and signing certificate from IdP metadata XML (no DTDs)."""
    from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(xml.encode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - lxml/xmlsec raise many types; any of them means bad input
        raise ValidationError("IdP metadata is not valid SAML metadata XML.") from exc
    idp = parsed.get("idp") or {}
    entity_id = idp.get("entityId")
    sso_url = (idp.get("singleSignOnService") or {}).get("url")
    cert = idp.get("x509cert") or ((idp.get("x509certMulti") or {}).get("signing") or [None])[0]
    if not entity_id or not sso_url or not cert:
        raise ValidationError(
            "IdP metadata must name an entityID, an HTTP-Redirect SSO URL and a signing certificate."
        )
    return {"idp_entity_id": entity_id, "idp_sso_url": sso_url, "idp_x509_cert": cert}


def _url(**kwargs: Any) -> fields.Url:
    return fields.Url(
        schemes={"https", "http"}, require_tld=False, validate=validate.Length(max=2048), **kwargs
    )


class SsoConnectionPutSchema(Schema):
    """PUT /organizations/:id/sso: a whole SAML or OIDC connection."""

    type = fields.String(required=True, validate=validate.OneOf(["saml", "oidc"]))
    enabled = fields.Boolean(load_default=True)
    email_domains = fields.List(
        SafeString(max_length=253, min_length=1), load_default=list, validate=validate.Length(max=50)
    )
    default_role = fields.String(load_default="member", validate=validate.OneOf(["member", "admin"]))
    attribute_mapping = fields.Dict(
        keys=fields.String(validate=validate.OneOf(MAPPABLE)),
        values=SafeString(max_length=256, min_length=1),
        load_default=dict,
    )
    allow_idp_initiated = fields.Boolean(load_default=False)
    # SAML: either the metadata XML, or the three fields.
    idp_metadata_xml = SafeString(max_length=200_000, multiline=True, normalize=False, load_default=None)
    idp_entity_id = SafeString(max_length=1024, min_length=1, load_default=None)
    idp_sso_url = _url(load_default=None)
    idp_x509_cert = SafeString(max_length=20_000, multiline=True, min_length=1, load_default=None)
    # OIDC
    issuer = _url(load_default=None)
    discovery_url = _url(load_default=None)
    client_id = SafeString(max_length=255, min_length=1, load_default=None)
    client_secret = SafeString(max_length=1024, min_length=1, load_default=None, load_only=True)
    scopes = SafeString(max_length=512, min_length=1, load_default=None)

    @validates_schema
    def _check_type_fields(self, data: dict[str, Any], **kwargs: Any) -> None:
        problems: dict[str, list[str]] = {}
        if data.get("type") == "saml":
            if not data.get("idp_metadata_xml"):
                for name in ("idp_entity_id", "idp_sso_url", "idp_x509_cert"):
                    if not data.get(name):
                        problems[name] = ["Required for SAML unless idp_metadata_xml is given."]
            for name in ("issuer", "discovery_url", "client_id", "client_secret", "scopes"):
                if data.get(name) is not None:
                    problems[name] = ["Only for OIDC connections."]
        elif data.get("type") == "oidc":
            for name in ("issuer", "client_id"):
                if not data.get(name):
                    problems[name] = ["Required for OIDC connections."]
            for name in ("idp_metadata_xml", "idp_entity_id", "idp_sso_url", "idp_x509_cert"):
                if data.get(name) is not None:
                    problems[name] = ["Only for SAML connections."]
            if data.get("allow_idp_initiated"):
                problems["allow_idp_initiated"] = ["Only for SAML connections."]
        if problems:
            raise ValidationError(problems)

    @post_load
    def _normalise(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        from app.services.sso import normalize_domain

        domains = []
        for raw in data["email_domains"]:
            try:
                domains.append(normalize_domain(raw))
            except ValueError as exc:
                raise ValidationError({"email_domains": [f"'{raw[:100]}' is not a domain name."]}) from exc
        data["email_domains"] = domains
        if data["type"] == "saml":
            if data.get("idp_metadata_xml"):
                try:
                    data.update(parse_idp_metadata(data["idp_metadata_xml"]))
                except ValidationError as exc:
                    raise ValidationError({"idp_metadata_xml": exc.messages}) from exc
            try:
                data["idp_x509_cert"] = parse_certificate(data["idp_x509_cert"])
            except ValidationError as exc:
                raise ValidationError({"idp_x509_cert": exc.messages}) from exc
        else:
            # Kept verbatim: the ID token's `iss` must equal it exactly.
            data["oidc_issuer"] = data["issuer"]
            data["oidc_discovery_url"] = data.get("discovery_url") or (
                data["issuer"].rstrip("/") + "/.well-known/openid-configuration"
            )
            data["oidc_client_id"] = data["client_id"]
            scopes = (data.get("scopes") or "openid email profile").split()
            if "openid" not in scopes:
                scopes.insert(0, "openid")
            data["oidc_scopes"] = " ".join(dict.fromkeys(scopes))
        return data


class SsoConnectionSchema(Schema):
    """A connection as org admins see it: never a secret or a private key."""

    id = fields.UUID()
    organization_id = fields.UUID()
    type = fields.String()
    enabled = fields.Boolean()
    email_domains = fields.Method("get_domains")
    default_role = fields.String()
    attribute_mapping = fields.Dict()
    allow_idp_initiated = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    saml = fields.Method("get_saml")
    oidc = fields.Method("get_oidc")

    def __init__(self, *, public_base: str, slug: str, **kwargs: Any) -> None:
        """`public_base` (PUBLIC_BASE_URL) and the org slug build the endpoint URLs shown to admins."""
        super().__init__(**kwargs)
        self.public_base = public_base.rstrip("/")
        self.slug = slug

    def get_domains(self, obj: Any) -> list[str]:
        """Routed domains, sorted."""
        return sorted(d.domain for d in obj.domains)

    def get_saml(self, obj: Any) -> dict[str, Any] | None:
        """IdP settings and the SP endpoints to give the IdP."""
        if obj.type != "saml":
            return None
        base = f"{self.public_base}/api/v1/auth/saml/{self.slug}"
        return {
            "idp_entity_id": obj.idp_entity_id,
            "idp_sso_url": obj.idp_sso_url,
            "idp_x509_cert": obj.idp_x509_cert,
            "sp_entity_id": base + "/metadata",
            "sp_metadata_url": base + "/metadata",
            "sp_acs_url": base + "/acs",
            "sp_login_url": base + "/login",
            "sp_certificate": obj.sp_certificate,
        }

    def get_oidc(self, obj: Any) -> dict[str, Any] | None:
        """OIDC settings (the secret only as a flag) and the redirect URI to register at the IdP."""
        if obj.type != "oidc":
            return None
        base = f"{self.public_base}/api/v1/auth/oidc/{self.slug}"
        return {
            "issuer": obj.oidc_issuer,
            "discovery_url": obj.oidc_discovery_url,
            "client_id": obj.oidc_client_id,
            "has_client_secret": bool(obj.oidc_client_secret_encrypted),
            "scopes": obj.oidc_scopes,
            "redirect_uri": base + "/callback",
            "login_url": base + "/login",
        }


class DiscoverSchema(Schema):
    """POST /auth/sso/discover body."""

    email = Email(required=True)

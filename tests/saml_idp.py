"""A test SAML IdP: builds SAML 2.0 Responses and signs assertions with signxml (independent of
python3-saml/xmlsec, which the SP uses), with a key and certificate generated per test run."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner, methods

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def make_keypair(cn: str) -> tuple[str, str]:
    """(private key PEM, self-signed certificate PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def _ts(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TestIdP:
    """An identity provider with its own signing key."""

    __test__ = False  # not a pytest class

    def __init__(self, entity_id: str = "https://idp.example.test/saml") -> None:
        self.entity_id = entity_id
        self.sso_url = "https://idp.example.test/sso"
        self.key, self.cert = make_keypair("Test IdP")

    def metadata(self) -> str:
        """IdP metadata XML naming the entity id, SSO URL and signing certificate."""
        body = "".join(line for line in self.cert.splitlines() if "CERTIFICATE" not in line)
        return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{self.entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="{DS}"><ds:X509Data>
      <ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
      Location="{self.sso_url}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""

    def assertion(
        self,
        *,
        name_id: str,
        audience: str,
        recipient: str,
        in_response_to: str | None,
        attributes: dict[str, str] | None = None,
        lifetime: int = 300,
        issued_offset: int = 0,
        assertion_id: str | None = None,
        issuer: str | None = None,
    ) -> etree._Element:
        """An unsigned Assertion element (with a signature placeholder after its Issuer)."""
        now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=issued_offset)
        aid = assertion_id or "_a" + secrets.token_hex(16)
        irt = f' InResponseTo="{in_response_to}"' if in_response_to else ""
        not_before = _ts(now - dt.timedelta(seconds=30))
        expires = _ts(now + dt.timedelta(seconds=lifetime))
        attrs = "".join(
            f'<saml:Attribute Name="{k}"><saml:AttributeValue>{v}</saml:AttributeValue></saml:Attribute>'
            for k, v in (attributes or {}).items()
        )
        statement = f"<saml:AttributeStatement>{attrs}</saml:AttributeStatement>" if attrs else ""
        xml = f"""<saml:Assertion xmlns:saml="{SAML}" ID="{aid}" Version="2.0" IssueInstant="{_ts(now)}">
<saml:Issuer>{issuer or self.entity_id}</saml:Issuer>
<ds:Signature xmlns:ds="{DS}" Id="placeholder"/>
<saml:Subject>
<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID>
<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
<saml:SubjectConfirmationData NotOnOrAfter="{expires}" Recipient="{recipient}"{irt}/>
</saml:SubjectConfirmation>
</saml:Subject>
<saml:Conditions NotBefore="{not_before}" NotOnOrAfter="{expires}">
<saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>
</saml:Conditions>
<saml:AuthnStatement AuthnInstant="{_ts(now)}" SessionIndex="_s{secrets.token_hex(8)}">
<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>
</saml:AuthnStatement>
{statement}
</saml:Assertion>"""
        return etree.fromstring(xml.encode())

    def sign(
        self, element: etree._Element, key: str | None = None, cert: str | None = None
    ) -> etree._Element:
        """Sign an element (enveloped, RSA-SHA256, exclusive c14n) at its placeholder."""
        signer = XMLSigner(
            method=methods.enveloped,
            signature_algorithm="rsa-sha256",
            digest_algorithm="sha256",
            c14n_algorithm=EXC_C14N,
        )
        return signer.sign(element, key=key or self.key, cert=cert or self.cert)

    def response(
        self,
        assertion: etree._Element | None,
        *,
        destination: str,
        in_response_to: str | None,
        issuer: str | None = None,
        signature_placeholder: bool = False,
    ) -> etree._Element:
        """A samlp:Response wrapping `assertion` (already signed or not)."""
        irt = f' InResponseTo="{in_response_to}"' if in_response_to else ""
        now = _ts(dt.datetime.now(dt.UTC))
        placeholder = f'<ds:Signature xmlns:ds="{DS}" Id="placeholder"/>' if signature_placeholder else ""
        xml = f"""<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_r{secrets.token_hex(16)}"
 Version="2.0" IssueInstant="{now}" Destination="{destination}"{irt}>
<saml:Issuer>{issuer or self.entity_id}</saml:Issuer>{placeholder}
<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
</samlp:Response>"""
        root = etree.fromstring(xml.encode())
        if assertion is not None:
            root.append(assertion)
        return root

    def signed_response(self, *, acs: str, audience: str, in_response_to: str | None, **kwargs: Any) -> bytes:
        """The common case: a Response with one assertion signed by this IdP."""
        assertion = self.sign(
            self.assertion(audience=audience, recipient=acs, in_response_to=in_response_to, **kwargs)
        )
        return etree.tostring(self.response(assertion, destination=acs, in_response_to=in_response_to))


def strip_placeholder(element: etree._Element) -> etree._Element:
    """Remove the unused signature placeholder of an assertion that stays unsigned."""
    for sig in element.findall(f".//{{{DS}}}Signature[@Id='placeholder']"):
        sig.getparent().remove(sig)
    return element


def encode(xml: bytes | str) -> str:
    """Base64 for the HTTP-POST binding."""
    return base64.b64encode(xml if isinstance(xml, bytes) else xml.encode()).decode()

"""Signing keys (JWKS, rotation) and the internal certificate authority.

Public API for other features:
- `active_signing_key()` / `private_key_pem(key)` sign JWTs; `jwks()` publishes the public keys.
- `issue_certificate(common_name, public_key, days=365) -> str` returns a PEM X.509 certificate
  signed by the internal CA (created on first use if `python manage.py ca init` was not run).
"""

from __future__ import annotations

import base64
import logging
import secrets
from datetime import timedelta
from threading import Lock
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID
from flask import current_app
from sqlalchemy import or_, select, text

from app.extensions import db
from app.models.base import utcnow
from app.models.keys import CertificateAuthority, KeyStatus, SigningKey
from app.security.crypto import FieldCipher
from app.services import audit
from app.services.context import SYSTEM, RequestInfo

logger = logging.getLogger(__name__)

SIGNING_ALG = "RS256"
RSA_SIGNING_BITS = 2048
RSA_CA_BITS = 3072
CA_NAME = "Authy2 Internal CA"
# Serialises key creation across workers (any constant; distinct from the audit lock).
KEY_LOCK_KEY = 0x4B455953  # "KEYS"
# Published a little longer than the longest token lifetime, for clock skew and caches.
PUBLISH_MARGIN = timedelta(minutes=5)

_pem_cache: dict[str, bytes] = {}
_pem_cache_lock = Lock()


def _signing_cipher() -> FieldCipher:
    """Cipher for signing-key private parts (ENCRYPTION_KEY, comma-separated for rotation)."""
    return FieldCipher(current_app.config["ENCRYPTION_KEY"], "signing-keys")


def _ca_cipher() -> FieldCipher:
    """Cipher for the CA private key (CA_ENCRYPTION_KEY, comma-separated for rotation)."""
    return FieldCipher(current_app.config["CA_ENCRYPTION_KEY"], "ca")


def _b64url_uint(value: int) -> str:
    """Unsigned big-endian integer, base64url without padding (RFC 7518 §6.3)."""
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk_of(public_key: rsa.RSAPublicKey, kid: str) -> dict[str, Any]:
    """The public JWK (never private members) of an RSA key."""
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": SIGNING_ALG,
        "kid": kid,
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }


def _lock_keys() -> None:
    """Serialise key creation until commit so two workers cannot both create an active key."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": KEY_LOCK_KEY})


def _new_signing_key() -> SigningKey:
    """Generate an RSA key and its row (private part encrypted)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_SIGNING_BITS)
    kid = secrets.token_urlsafe(12)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = SigningKey(
        kid=kid,
        alg=SIGNING_ALG,
        status=KeyStatus.ACTIVE,
        public_jwk=public_jwk_of(private.public_key(), kid),
        private_key_encrypted=_signing_cipher().encrypt(pem),
    )
    db.session.add(key)
    db.session.flush()
    return key


def _current_active() -> SigningKey | None:
    """The newest active key, if any."""
    return db.session.execute(
        select(SigningKey)
        .where(SigningKey.status == KeyStatus.ACTIVE)
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def active_signing_key(ctx: RequestInfo = SYSTEM) -> SigningKey:
    """The key that signs new tokens; generated on first use."""
    key = _current_active()
    if key is not None:
        return key
    _lock_keys()
    key = _current_active()
    if key is None:
        key = _new_signing_key()
        audit.record("keys.signing_key_created", ctx, target_type="signing_key", target_id=key.kid)
    return key


def rotate_signing_keys(ctx: RequestInfo = SYSTEM) -> SigningKey:
    """Add a new active key; retire the old ones, still published until their tokens expire."""
    _lock_keys()
    now = utcnow()
    lifetime = max(
        current_app.config["OAUTH2_ID_TOKEN_LIFETIME"], current_app.config["OAUTH2_ACCESS_TOKEN_LIFETIME"]
    )
    retired = []
    for old in db.session.execute(select(SigningKey).where(SigningKey.status == KeyStatus.ACTIVE)).scalars():
        old.status = KeyStatus.RETIRED
        old.retired_at = now
        old.publish_until = now + timedelta(seconds=lifetime) + PUBLISH_MARGIN
        retired.append(old.kid)
    db.session.flush()
    key = _new_signing_key()
    audit.record(
        "keys.rotated",
        ctx,
        target_type="signing_key",
        target_id=key.kid,
        details={"retired_kids": retired},
    )
    return key


def published_keys() -> list[SigningKey]:
    """Keys whose public part is in the JWKS: active ones and retired ones still within their tokens' life."""
    now = utcnow()
    return list(
        db.session.execute(
            select(SigningKey)
            .where(
                or_(
                    SigningKey.status == KeyStatus.ACTIVE,
                    SigningKey.publish_until > now,
                )
            )
            .order_by(SigningKey.created_at.desc())
        ).scalars()
    )


def jwks() -> dict[str, Any]:
    """The JWK Set document (public members only)."""
    keys = published_keys()
    if not keys:
        keys = [active_signing_key()]
    allowed = {"kty", "use", "alg", "kid", "n", "e"}
    return {"keys": [{k: v for k, v in key.public_jwk.items() if k in allowed} for key in keys]}


def private_key_pem(key: SigningKey) -> bytes:
    """The decrypted PEM of a signing key (cached per process by kid)."""
    with _pem_cache_lock:
        cached = _pem_cache.get(key.kid)
    if cached is not None:
        return cached
    pem = _signing_cipher().decrypt(key.private_key_encrypted)
    with _pem_cache_lock:
        _pem_cache[key.kid] = pem
    return pem


def reencrypt_all(ctx: RequestInfo = SYSTEM) -> int:
    """Re-encrypt every stored private key under the current ENCRYPTION_KEY / CA_ENCRYPTION_KEY."""
    count = 0
    signing = _signing_cipher()
    for key in db.session.execute(select(SigningKey)).scalars():
        key.private_key_encrypted = signing.rotate(key.private_key_encrypted)
        count += 1
    ca_cipher = _ca_cipher()
    for ca in db.session.execute(select(CertificateAuthority)).scalars():
        ca.private_key_encrypted = ca_cipher.rotate(ca.private_key_encrypted)
        count += 1
    db.session.flush()
    audit.record("keys.reencrypted", ctx, details={"count": count})
    return count


# --- internal certificate authority -------------------------------------------------------------


def get_ca() -> CertificateAuthority | None:
    """The internal CA row, if initialised."""
    return db.session.execute(select(CertificateAuthority).limit(1)).scalar_one_or_none()


def init_ca(
    ctx: RequestInfo = SYSTEM, common_name: str = CA_NAME, days: int = 3650
) -> tuple[CertificateAuthority, bool]:
    """Create the self-signed CA (RSA 3072, 10 years) unless it exists; returns (ca, created)."""
    existing = get_ca()
    if existing is not None:
        return existing, False
    _lock_keys()
    existing = get_ca()
    if existing is not None:
        return existing, False
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_CA_BITS)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Authy2"),
        ]
    )
    now = utcnow()
    ski = x509.SubjectKeyIdentifier.from_public_key(private.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(private, hashes.SHA256())
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ca = CertificateAuthority(
        name=common_name,
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        private_key_encrypted=_ca_cipher().encrypt(pem),
    )
    db.session.add(ca)
    db.session.flush()
    audit.record(
        "ca.initialized",
        ctx,
        target_type="certificate_authority",
        target_id=ca.id,
        details={"fingerprint_sha256": certificate_fingerprint(cert)},
    )
    return ca, True


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint, colon-separated upper-case hex."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def ca_certificate() -> x509.Certificate:
    """The CA certificate (initialising the CA on first use)."""
    ca, _ = init_ca()
    return x509.load_pem_x509_certificate(ca.certificate_pem.encode("ascii"))


def _load_public_key(public_key: CertificatePublicKeyTypes | str | bytes) -> CertificatePublicKeyTypes:
    """Accept a cryptography public key or its PEM."""
    if isinstance(public_key, str | bytes):
        data = public_key.encode("ascii") if isinstance(public_key, str) else public_key
        loaded = serialization.load_pem_public_key(data)
        return loaded  # type: ignore[return-value]  # every PEM public key type is a certificate key type
    return public_key


def issue_certificate(
    common_name: str,
    public_key: CertificatePublicKeyTypes | str | bytes,
    days: int = 365,
    ctx: RequestInfo = SYSTEM,
) -> str:
    """Issue an end-entity certificate (PEM) for `public_key`, signed by the internal CA.

    For signing use (e.g. SAML SP metadata): digitalSignature + keyEncipherment, not a CA.
    `public_key` is a cryptography public key object or a PEM string/bytes. Flushes an audit row.
    """
    if not common_name or len(common_name) > 64:
        raise ValueError("common_name must be 1..64 characters")
    if not 1 <= days <= 3650:
        raise ValueError("days must be between 1 and 3650")
    ca, _ = init_ca(ctx)
    ca_cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode("ascii"))
    ca_key = serialization.load_pem_private_key(_ca_cipher().decrypt(ca.private_key_encrypted), password=None)
    subject_key = _load_public_key(public_key)
    now = utcnow()
    not_after = min(now + timedelta(days=days), ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(subject_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]  # RSA CA key
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]  # the CA key is RSA
    )
    audit.record(
        "ca.certificate_issued",
        ctx,
        target_type="certificate",
        target_id=format(cert.serial_number, "x")[:64],
        details={"common_name": common_name, "days": days},
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

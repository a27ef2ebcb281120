"""Encryption at rest for SSO connection secrets (OIDC client secrets, SAML SP private keys).

Deliberately two small functions so the integrator can swap them for the shared field-encryption
module (app/security/crypto.py, issue 6) without touching callers. Fernet (AES-128-CBC + HMAC)
with a key derived from ENCRYPTION_KEY by HKDF-SHA256 under a purpose-specific label.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from app import errors

PURPOSE = b"authy2:sso-connection-secrets:v1"


def _fernet() -> Fernet:
    """The Fernet instance for the configured ENCRYPTION_KEY."""
    secret = current_app.config["ENCRYPTION_KEY"].encode("utf-8")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_sso_secret(plaintext: str) -> str:
    """Encrypt a connection secret for storage."""
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_sso_secret(token: str) -> str:
    """Decrypt a stored connection secret; a wrong ENCRYPTION_KEY is a 503, never a leak or a 500."""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise errors.ServiceUnavailable("SSO connection secrets cannot be decrypted") from exc

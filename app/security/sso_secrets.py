"""Encryption at rest for SSO connection secrets (OIDC client secrets, SAML SP private keys).

Uses the shared field cipher of app/security/crypto.py (MultiFernet over HKDF-derived keys from
ENCRYPTION_KEY, first secret current), so rotating ENCRYPTION_KEY covers these secrets too.
"""

from __future__ import annotations

from flask import current_app

from app import errors
from app.security.crypto import DecryptionError, FieldCipher

PURPOSE = "sso-connection-secrets"


def _cipher() -> FieldCipher:
    """The shared field cipher (MultiFernet over ENCRYPTION_KEY's secrets) for this purpose."""
    return FieldCipher(current_app.config["ENCRYPTION_KEY"], PURPOSE)


def encrypt_sso_secret(plaintext: str) -> str:
    """Encrypt a connection secret for storage (under the current ENCRYPTION_KEY secret)."""
    return _cipher().encrypt(plaintext.encode("utf-8"))


def decrypt_sso_secret(token: str) -> str:
    """Decrypt a stored connection secret; a wrong ENCRYPTION_KEY is a 503, never a leak or a 500."""
    try:
        return _cipher().decrypt(token).decode("utf-8")
    except DecryptionError as exc:
        raise errors.ServiceUnavailable("SSO connection secrets cannot be decrypted") from exc

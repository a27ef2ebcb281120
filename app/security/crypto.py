"""Field encryption at rest (MultiFernet over keys derived from ENCRYPTION_KEY) and keyed hashes.

ENCRYPTION_KEY (and CA_ENCRYPTION_KEY) may hold a comma-separated list of secrets: the first one
encrypts, every one decrypts. Rotating is: prepend a new secret, run `python manage.py keys
reencrypt`, then drop the old secret. Each secret is stretched with HKDF-SHA-256 into a Fernet key
with a purpose label, so the same secret never keys two different uses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(RuntimeError):
    """A ciphertext could not be decrypted with any configured key (wrong or missing key)."""


def split_secrets(raw: str | Sequence[str] | None) -> list[str]:
    """The secrets in a comma-separated setting (first = current); empty items are ignored."""
    if raw is None:
        return []
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return [item.strip() for item in items if item and item.strip()]


def derive_key(secret: str, purpose: str) -> bytes:
    """32 bytes derived from `secret` for one `purpose` (HKDF-SHA-256, fixed salt)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"authy2-kdf-v1", info=purpose.encode())
    return hkdf.derive(secret.encode("utf-8"))


class FieldCipher:
    """Encrypts with the first secret's key, decrypts with any of them (MultiFernet)."""

    def __init__(self, secrets_setting: str | Sequence[str] | None, purpose: str) -> None:
        """`purpose` separates key spaces, e.g. "signing-keys" and "ca"."""
        secrets_list = split_secrets(secrets_setting)
        if not secrets_list:
            raise ValueError("no encryption secret configured")
        self._fernets = [
            Fernet(base64.urlsafe_b64encode(derive_key(secret, "fernet:" + purpose)))
            for secret in secrets_list
        ]
        self._multi = MultiFernet(self._fernets)

    def encrypt(self, plaintext: bytes) -> str:
        """Ciphertext (a Fernet token, ASCII) under the current key."""
        return self._multi.encrypt(plaintext).decode("ascii")

    def decrypt(self, ciphertext: str) -> bytes:
        """Plaintext; DecryptionError when no configured key opens it."""
        try:
            return self._multi.decrypt(ciphertext.encode("ascii"))
        except (InvalidToken, ValueError) as exc:
            raise DecryptionError("ciphertext cannot be decrypted with the configured keys") from exc

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the current key (for ENCRYPTION_KEY rotation)."""
        try:
            return self._multi.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError) as exc:
            raise DecryptionError("ciphertext cannot be decrypted with the configured keys") from exc


def keyed_hashes(secrets_setting: str | Sequence[str] | None, purpose: str, value: str) -> list[str]:
    """HMAC-SHA-256 of `value` under every configured secret (first = current), hex-encoded."""
    return [
        hmac.new(derive_key(secret, "hmac:" + purpose), value.encode("utf-8"), hashlib.sha256).hexdigest()
        for secret in split_secrets(secrets_setting)
    ]


def matches_keyed_hash(
    secrets_setting: str | Sequence[str] | None, purpose: str, value: str, stored: str | None
) -> bool:
    """Whether `value` hashes to `stored` under any configured secret; constant time per candidate."""
    if not stored or value is None:
        return False
    found = False
    for candidate in keyed_hashes(secrets_setting, purpose, value):
        # Evaluate every candidate so timing does not reveal which key matched.
        found = hmac.compare_digest(candidate.encode(), stored.encode()) or found
    return found

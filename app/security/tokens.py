"""Opaque random tokens and their hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token with `nbytes` of entropy (default 256 bits)."""
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    """SHA-256 of a token, hex-encoded: what stores keep instead of the token."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def keyed_hash(key: str, value: str) -> str:
    """HMAC-SHA-256 of `value` under `key`, hex-encoded (fast keyed hash for high-entropy secrets)."""
    return hmac.new(key.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two strings without leaking where they differ."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))

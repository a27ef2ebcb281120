"""CSRF double-submit for cookie-authenticated requests, bound to the session.

The token is HMAC(SECRET_KEY, session token hash): the browser gets it in a readable cookie and
must echo it in the X-CSRF-Token header. Binding it to the session means a cookie planted by a
sibling subdomain cannot be paired with a header the attacker chose.
"""

from __future__ import annotations

from app.security.tokens import constant_time_equals, keyed_hash

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def csrf_token_for(secret_key: str, token_hash: str) -> str:
    """The CSRF token belonging to one session."""
    return keyed_hash(secret_key, "csrf:" + token_hash)


def csrf_valid(secret_key: str, token_hash: str, presented: str | None) -> bool:
    """Whether the header value matches the session's CSRF token."""
    if not presented:
        return False
    return constant_time_equals(csrf_token_for(secret_key, token_hash), presented)

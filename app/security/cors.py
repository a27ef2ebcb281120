"""CORS_ORIGINS, checked: exact origins only, so credentials are never offered to a pattern.

Flask-CORS treats an entry containing `*`, `?`, `[`, `(`, `^`, `$` or `\\` as a regular expression,
and `*` as "reflect any origin" — which, with supports_credentials, hands every site the user's
cookies. So every entry must be a plain `scheme://host[:port]` origin; `*`, `null`, wildcards,
paths and regex characters make the app refuse to start (ConfigError naming CORS_ORIGINS).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.config import ConfigError

ORIGIN_RE = re.compile(r"^(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?$")


def allowed_origins(value: str | Iterable[str] | None) -> list[str]:
    """Validate and normalise CORS_ORIGINS (a comma-separated string or a list) into exact origins."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    origins: list[str] = []
    for raw in items:
        origin = str(raw).strip().rstrip("/").lower()
        if not origin:
            continue
        match = ORIGIN_RE.match(origin)
        if origin in {"*", "null"} or not match or ".." in origin or match.group(2).startswith("."):
            raise ConfigError(
                f"CORS_ORIGINS entry {str(raw).strip()!r} is not an exact origin such as "
                "https://app.example.com (wildcards, 'null', paths and patterns are refused)"
            )
        if origin not in origins:
            origins.append(origin)
    return origins

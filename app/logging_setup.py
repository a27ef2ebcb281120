"""Logging: one line per record with the request id (JSON or console), one access line per request.

Never logged: tokens, passwords, cookies, Authorization headers, query strings. The access line
carries the request path with token-like segments redacted, never the query string.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request

ACCESS_LOGGER = "app.access"
# Attributes every LogRecord has; anything else was passed through `extra=` and is logged as a field.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "request_id", "taskName"}
)
# A path segment this long from the token alphabet may be a secret (a reset or verification token).
_TOKEN_SEGMENT = re.compile(r"^[A-Za-z0-9_\-.~]{32,}$")
_UUID_SEGMENT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (a dash outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the current request id."""
        from app.envelope import current_request_id

        try:
            record.request_id = current_request_id() or "-"
        except RuntimeError:
            record.request_id = "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise the record; exceptions become a single `exc_info` string field."""
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str, separators=(",", ":"))


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines for development; access lines read like a web server's."""

    def __init__(self) -> None:
        """Timestamp, level, request id, logger, message."""
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")


def make_formatter(fmt: str) -> logging.Formatter:
    """The formatter for LOG_FORMAT ("json" or "console")."""
    return ConsoleFormatter() if fmt == "console" else JsonFormatter()


def setup_logging(app: Flask) -> None:
    """Configure the 'app' logger once per process and register the per-request access line."""
    logger = logging.getLogger("app")
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    formatter = make_formatter(app.config.get("LOG_FORMAT", "json"))
    ours = [h for h in logger.handlers if getattr(h, "_authy2", False)]
    if ours:
        # A later app in the same process (tests) decides the format.
        for handler in ours:
            handler.setFormatter(formatter)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        handler._authy2 = True  # type: ignore[attr-defined]  # marks our handler to avoid duplicates
        logger.addHandler(handler)
        logger.propagate = False
    app.before_request(_start_timer)
    app.after_request(_log_request)


def _start_timer() -> None:
    """Remember when the request started (monotonic)."""
    g.request_started = time.perf_counter()


def safe_path(path: str) -> str:
    """The request path with token-like segments replaced by `<redacted>` (UUIDs are kept)."""
    parts = path.split("/")
    return "/".join(
        "<redacted>" if _TOKEN_SEGMENT.match(p) and not _UUID_SEGMENT.match(p) else p for p in parts
    )


def request_duration_ms() -> float:
    """Milliseconds since the request started (0 if the timer did not run)."""
    started = g.get("request_started")
    return round((time.perf_counter() - started) * 1000, 3) if started is not None else 0.0


def _log_request(response: Response) -> Response:
    """Write the access line: method, path, status, duration_ms, request_id, user_id when known."""
    # The session record (a plain dataclass), not the ORM user: after a view commits, the user
    # instance is expired and reading user.id here would cost a SELECT (or fail, outside every error
    # handler, if the connection just broke).
    session = g.get("current_session")
    path = safe_path(request.path)
    duration = request_duration_ms()
    logging.getLogger(ACCESS_LOGGER).info(
        "%s %s %s %.1fms",
        request.method,
        path,
        response.status_code,
        duration,
        extra={
            "method": request.method,
            "path": path,
            "endpoint": request.endpoint or "-",
            "status": response.status_code,
            "duration_ms": duration,
            "user_id": session.user_id if session is not None else None,
            "remote_addr": request.remote_addr,
        },
    )
    return response

"""Logging: one line per record with the request id; never secrets."""

from __future__ import annotations

import logging
import sys

from flask import Flask


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


def setup_logging(app: Flask) -> None:
    """Configure the root 'app' logger once per process."""
    logger = logging.getLogger("app")
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    if not any(getattr(h, "_authy2", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
        handler.addFilter(RequestIdFilter())
        handler._authy2 = True  # type: ignore[attr-defined]  # marks our handler to avoid duplicates
        logger.addHandler(handler)
        logger.propagate = False

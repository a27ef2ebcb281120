"""GET /api/health: the database and the session store, each checked."""

from __future__ import annotations

import logging

from flask import Blueprint, Response
from sqlalchemy import text

from app import errors
from app.envelope import error_response, success
from app.extensions import db
from app.sessions import get_store

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__, url_prefix="/api")


def _check(name: str, probe: object) -> str:
    """Run one probe; 'ok' or 'unavailable' (the exception goes to the log, not the body)."""
    try:
        probe()  # type: ignore[operator]  # probes are zero-argument callables
    except Exception:  # noqa: BLE001 - any failure of a probe means the dependency is down
        logger.warning("health check %s failed", name, exc_info=True)
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the database itself may be the one down
            logger.debug("rollback after failed health probe failed")
        return "unavailable"
    return "ok"


@bp.get("/health")
def health() -> Response:
    """200 when every dependency answers; 503 naming the failing checks otherwise."""
    checks = {
        "database": _check("database", lambda: db.session.execute(text("SELECT 1"))),
        "session_store": _check("session_store", lambda: get_store().ping()),
    }
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        return error_response(
            errors.ServiceUnavailable(
                f"Unhealthy: {', '.join(failing)} unavailable", {"checks": checks, "failing": failing}
            )
        )
    return success({"status": "ok", "checks": checks}, "Healthy")

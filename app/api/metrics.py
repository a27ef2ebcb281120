"""GET /metrics: Prometheus exposition; open in development, bearer METRICS_TOKEN elsewhere."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request

from app import errors
from app.metrics import render

bp = Blueprint("metrics", __name__)


def _authorized() -> bool:
    """True when no token is configured (development) or the bearer token matches it."""
    expected = current_app.config.get("METRICS_TOKEN")
    if not expected:
        return current_app.config["ENV_NAME"] != "production"
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format: requests, latency, logins, 429s and dependency errors."""
    if not _authorized():
        raise errors.AuthenticationRequired("A valid metrics bearer token is required")
    body, content_type = render()
    response = current_app.response_class(body, status=200, mimetype=None)
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-store"
    return response

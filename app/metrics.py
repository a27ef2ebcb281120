"""Prometheus metrics: request counts and latency, logins, rate-limit rejections, dependency outages.

Counters live in this process (or, under gunicorn with several workers, in the files of
PROMETHEUS_MULTIPROC_DIR, which gunicorn.conf.py sets before the app is imported, so that
/metrics adds up every worker). Services call `record_login`; the request hooks do the rest.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

if TYPE_CHECKING:
    from flask import Flask

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "authy2_http_requests_total",
    "HTTP requests answered, by method, endpoint (Flask route name) and status.",
    ["method", "endpoint", "status"],
)
HTTP_LATENCY = Histogram(
    "authy2_http_request_duration_seconds",
    "Time from the first before_request hook to the response, by method, endpoint and status.",
    ["method", "endpoint", "status"],
    buckets=LATENCY_BUCKETS,
)
LOGINS = Counter(
    "authy2_logins_total",
    "Login attempts by method (password, google, ...) and result (success, failure).",
    ["method", "result"],
)
RATE_LIMITED = Counter(
    "authy2_rate_limited_total",
    "Requests rejected with 429 RATE_LIMIT_EXCEEDED, by endpoint.",
    ["endpoint"],
)
DEPENDENCY_ERRORS = Counter(
    "authy2_dependency_errors_total",
    "Requests answered 503 because a dependency failed (session_store = Redis, database).",
    ["dependency"],
)


def record_login(method: str, succeeded: bool) -> None:
    """Count one login attempt."""
    LOGINS.labels(method=method, result="success" if succeeded else "failure").inc()


def record_response(method: str, endpoint: str, status: int, seconds: float, dependency: str | None) -> None:
    """Count one answered request (and what its status says about limits and dependencies)."""
    labels = {"method": method, "endpoint": endpoint, "status": str(status)}
    HTTP_REQUESTS.labels(**labels).inc()
    HTTP_LATENCY.labels(**labels).observe(seconds)
    if status == 429:
        RATE_LIMITED.labels(endpoint=endpoint).inc()
    if status == 503 and dependency:
        DEPENDENCY_ERRORS.labels(dependency=dependency).inc()


def render() -> tuple[bytes, str]:
    """The exposition text: every worker's values in multiprocess mode, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def init_app(app: Flask) -> None:
    """Instrument every request and, when METRICS_ENABLED, expose GET /metrics."""
    import time

    from flask import Response, g, request

    def _observe(response: Response) -> Response:
        endpoint = request.endpoint or "<unmatched>"
        if endpoint != "metrics.metrics":
            started = g.get("request_started")
            seconds = time.perf_counter() - started if started is not None else 0.0
            dependency = g.get("dependency_error")
            record_response(request.method, endpoint, response.status_code, seconds, dependency)
        return response

    app.after_request(_observe)
    if app.config.get("METRICS_ENABLED"):
        from app.api.metrics import bp

        app.register_blueprint(bp)

"""The response envelope of DESIGN §2: success()/error() builders and the app-wide wiring."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from flask import Flask, Response, current_app, g, has_request_context, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from app import errors
from app.extensions import db

logger = logging.getLogger(__name__)

ENVELOPE_VERSION = "1.0"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

HTTP_ERROR_TYPES: dict[int, type[errors.AppError]] = {
    400: errors.BadRequest,
    401: errors.AuthenticationRequired,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
    422: errors.ValidationFailed,
    429: errors.RateLimited,
    503: errors.ServiceUnavailable,
}

DEPENDENCY_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    sqlalchemy.exc.DisconnectionError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def current_request_id() -> str | None:
    """The request id of the current request, if any."""
    if not has_request_context():
        return None
    if "request_id" not in g:
        assign_request_id()
    return g.get("request_id")


def _json_response(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    """Serialise `body` into a JSON response with the request id header."""
    response = current_app.response_class(
        json.dumps(body, ensure_ascii=False, default=str, separators=(",", ":")),
        status=status,
        mimetype="application/json",
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def success(
    data: Any = None,
    message: str = "Success",
    code: int = 200,
    meta: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build a success envelope."""
    body = {
        "version": ENVELOPE_VERSION,
        "success": True,
        "code": code,
        "message": message,
        "request_id": current_request_id(),
        "data": data if data is not None else {},
        "meta": meta or {},
    }
    return _json_response(body, code, headers)


def error_response(exc: errors.AppError) -> Response:
    """Build an error envelope from a domain error."""
    body = {
        "version": ENVELOPE_VERSION,
        "success": False,
        "code": exc.status,
        "message": exc.message,
        "request_id": current_request_id(),
        "error": {"type": exc.error_type, "details": exc.details},
    }
    return _json_response(body, exc.status, exc.headers())


def pagination_meta(page: int, per_page: int, total: int) -> dict[str, int]:
    """The `meta` block for a paginated list."""
    pages = (total + per_page - 1) // per_page if per_page else 0
    return {"page": page, "per_page": per_page, "total": total, "pages": pages}


def _finish_transaction(commit: bool) -> None:
    """Commit (when the error asks to keep what was written) or roll back the request's session."""
    try:
        if commit:
            db.session.commit()
        else:
            db.session.rollback()
    except Exception:  # noqa: BLE001 - the error being reported matters more than this one
        logger.exception("could not finish the transaction while handling an error")
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - nothing more can be done on a broken connection
            logger.exception("rollback failed")


def handle_app_error(exc: errors.AppError) -> Response:
    """Map a domain error to its envelope."""
    _finish_transaction(exc.commit)
    if exc.status >= 500:
        logger.warning("%s: %s", exc.error_type, exc.message)
    return error_response(exc)


def handle_validation_error(exc: ValidationError) -> Response:
    """marshmallow errors become VALIDATION_ERROR with its field -> messages map."""
    _finish_transaction(False)
    details = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return error_response(errors.ValidationFailed(details=details))


def handle_http_exception(exc: HTTPException) -> Response:
    """werkzeug errors (404, 405, 413, 429, ...) in the envelope, keeping their headers."""
    _finish_transaction(False)
    code = exc.code or 500
    error_cls = HTTP_ERROR_TYPES.get(code)
    if error_cls is None:
        error_cls = errors.BadRequest if 400 <= code < 500 else errors.InternalError
    if error_cls is errors.RateLimited:
        retry_after = _retry_after_of(exc)
        app_error: errors.AppError = errors.RateLimited(retry_after)
    else:
        app_error = error_cls()
    app_error.status = code
    response = error_response(app_error)
    if code == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


def _retry_after_of(exc: HTTPException) -> int:
    """Seconds until the breached Flask-Limiter window resets (60 when unknown)."""
    from app.extensions import limiter

    try:
        current = limiter.current_limit
        if current is not None:
            return max(1, int(current.reset_at - time.time()))
    except Exception:  # noqa: BLE001 - the storage may have died since the check; 429 still stands
        logger.warning("could not read the rate-limit window for Retry-After")
    return 60


def handle_dependency_error(exc: Exception) -> Response:
    """A database or Redis outage is a 503, never a 500."""
    _finish_transaction(False)
    # Read by the metrics hook (authy2_dependency_errors_total{dependency=...}).
    g.dependency_error = "session_store" if isinstance(exc, redis.exceptions.RedisError) else "database"
    logger.error("dependency unavailable: %s", type(exc).__name__)
    return error_response(errors.ServiceUnavailable())


def handle_integrity_error(exc: sqlalchemy.exc.IntegrityError) -> Response:
    """A constraint that a service did not translate still means a conflict, not a crash."""
    _finish_transaction(False)
    logger.warning("untranslated integrity error: %s", type(exc.orig).__name__)
    return error_response(errors.Conflict("The request conflicts with existing data"))


def handle_data_error(exc: sqlalchemy.exc.DataError) -> Response:
    """Input the database refused (a value validation should have caught) is a 400."""
    _finish_transaction(False)
    logger.warning("untranslated data error: %s", type(exc.orig).__name__)
    return error_response(errors.BadRequest("The request contains a value that cannot be stored"))


def handle_unexpected(exc: Exception) -> Response:
    """Anything else: 500 with a generic body; the traceback goes to the log with the request id."""
    _finish_transaction(False)
    logger.exception("unhandled error (request_id=%s)", current_request_id())
    return error_response(errors.InternalError())


def assign_request_id() -> None:
    """Take a sane X-Request-ID from the client, else make a uuid4."""
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if REQUEST_ID_RE.match(incoming) else str(uuid.uuid4())


def reject_control_characters_in_path() -> None:
    """No resource name holds NUL or control characters: answer 404 before any view or query runs.

    (PostgreSQL refuses NUL in text, so such a path parameter would otherwise surface as a 500.)
    """
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in request.path):
        raise errors.NotFound()


def echo_request_id(response: Response) -> Response:
    """Echo the request id on every response."""
    request_id = g.get("request_id")
    if request_id:
        response.headers["X-Request-ID"] = request_id
    return response


def envelope_automatic_options(response: Response) -> Response:
    """Flask's automatic OPTIONS answer (an empty 200 with Allow) gets the envelope under /api too.

    Found by schemathesis: `OPTIONS /api/health` answered with an empty body. Headers (Allow, the
    CORS preflight ones) are kept; only the empty body is replaced.
    """
    if (
        request.method == "OPTIONS"
        and request.path.startswith("/api/")
        and response.status_code == 200
        and not response.is_streamed
        and not response.get_data()
    ):
        methods = sorted(response.allow)
        body = {
            "version": ENVELOPE_VERSION,
            "success": True,
            "code": 200,
            "message": "Allowed methods: " + ", ".join(methods),
            "request_id": current_request_id(),
            "data": {"methods": methods},
            "meta": {},
        }
        response.set_data(json.dumps(body, separators=(",", ":")))
        response.mimetype = "application/json"
    return response


def init_app(app: Flask) -> None:
    """Register the request-id hooks and every error handler."""
    app.before_request(assign_request_id)
    app.before_request(reject_control_characters_in_path)
    app.after_request(echo_request_id)
    app.after_request(envelope_automatic_options)
    app.register_error_handler(errors.AppError, handle_app_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(sqlalchemy.exc.IntegrityError, handle_integrity_error)
    app.register_error_handler(sqlalchemy.exc.DataError, handle_data_error)
    for exc_type in DEPENDENCY_ERRORS:
        app.register_error_handler(exc_type, handle_dependency_error)
    app.register_error_handler(Exception, handle_unexpected)

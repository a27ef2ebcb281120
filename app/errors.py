"""The typed domain-error hierarchy; one class per envelope `error.type` (DESIGN §2)."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Base of every error the API reports on purpose; mapped to the envelope in one place."""

    status = 500
    error_type = "INTERNAL_ERROR"
    default_message = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        *,
        commit: bool = False,
    ) -> None:
        """`commit=True` keeps what the request wrote so far (e.g. the audit row of a failed login)."""
        self.message = message or self.default_message
        self.details = details or {}
        self.commit = commit
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Extra response headers for this error."""
        return {}


class ValidationFailed(AppError):
    """Input well-formed but invalid; details map field -> list of messages."""

    status = 422
    error_type = "VALIDATION_ERROR"
    default_message = "Validation failed"


class BadRequest(AppError):
    """Input not understood at all (malformed JSON, not an object, bad path parameter)."""

    status = 400
    error_type = "BAD_REQUEST"
    default_message = "Bad request"


class AuthenticationRequired(AppError):
    """No valid credentials: missing, wrong, expired or revoked."""

    status = 401
    error_type = "AUTHENTICATION_ERROR"
    default_message = "Authentication required"


class InvalidCredentials(AuthenticationRequired):
    """Login failed; the same message whether or not the account exists."""

    default_message = "Invalid email or password"


class PermissionDenied(AppError):
    """Authenticated but not allowed (including a failed CSRF check)."""

    status = 403
    error_type = "AUTHORIZATION_ERROR"
    default_message = "You do not have permission to do this"


class NotFound(AppError):
    """The resource does not exist, or the caller may not know that it does."""

    status = 404
    error_type = "NOT_FOUND"
    default_message = "Resource not found"


class MethodNotAllowed(AppError):
    """HTTP method not supported on this path."""

    status = 405
    error_type = "METHOD_NOT_ALLOWED"
    default_message = "Method not allowed"


class Conflict(AppError):
    """The request conflicts with current state (duplicate email, last owner, ...)."""

    status = 409
    error_type = "CONFLICT"
    default_message = "Conflict"


class PayloadTooLarge(AppError):
    """The body exceeds MAX_CONTENT_LENGTH."""

    status = 413
    error_type = "PAYLOAD_TOO_LARGE"
    default_message = "Request body too large"


class UnsupportedMediaType(AppError):
    """The body is not application/json."""

    status = 415
    error_type = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "Content-Type must be application/json"


class RateLimited(AppError):
    """Too many requests; carries Retry-After."""

    status = 429
    error_type = "RATE_LIMIT_EXCEEDED"
    default_message = "Too many requests"

    def __init__(self, retry_after: int, message: str | None = None, **kwargs: Any) -> None:
        """`retry_after` is in whole seconds (at least 1)."""
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, {"retry_after": self.retry_after}, **kwargs)

    def headers(self) -> dict[str, str]:
        """Retry-After header."""
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(AppError):
    """A dependency (database, Redis, SMTP) is down."""

    status = 503
    error_type = "SERVICE_UNAVAILABLE"
    default_message = "Service temporarily unavailable"

    def headers(self) -> dict[str, str]:
        """Suggest a short retry."""
        return {"Retry-After": "5"}


class InternalError(AppError):
    """Anything unexpected; the body never says more than this."""

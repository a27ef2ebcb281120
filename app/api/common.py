"""What every blueprint needs: JSON body parsing, request facts, authentication and pagination."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, g, request
from marshmallow import Schema
from werkzeug.exceptions import RequestEntityTooLarge

from app import errors
from app.models.user import User
from app.security.csrf import SAFE_METHODS, csrf_token_for, csrf_valid
from app.services import auth as auth_service
from app.services.context import RequestInfo
from app.sessions import SessionRecord

F = TypeVar("F", bound=Callable[..., Any])
MAX_JSON_DEPTH = 32


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a decoded JSON value, stopping once past `limit`."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def json_body(optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object: 415 if not JSON, 400 if malformed or not an object."""
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise errors.PayloadTooLarge() from exc
    if optional and not raw:
        return {}
    if not request.mimetype or not (
        request.mimetype == "application/json" or request.mimetype.endswith("+json")
    ):
        raise errors.UnsupportedMediaType()
    if not raw:
        raise errors.BadRequest("Request body must be a JSON object")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise errors.BadRequest("Request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise errors.BadRequest("Request body must be a JSON object")
    if _depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise errors.BadRequest("Request body is nested too deeply")
    if not _encodable(data):
        # JSON's \ud800-style escapes can smuggle lone surrogates that no UTF-8 consumer
        # (bcrypt, the database, email validation) accepts; schemathesis found the 500 this caused.
        raise errors.BadRequest("Request body contains an invalid Unicode escape (a lone surrogate)")
    return data


def _encodable(value: Any) -> bool:
    """Whether every string (and key) in a decoded JSON value can be encoded as UTF-8."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def load(schema: Schema, optional: bool = False) -> dict[str, Any]:
    """Parse the JSON body and validate it with `schema` (unknown fields are rejected)."""
    return schema.load(json_body(optional=optional))


def request_info() -> RequestInfo:
    """IP (after ProxyFix), user agent and request id of the current request."""
    return RequestInfo(
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or None) and request.user_agent.string[:512],
        request_id=g.get("request_id"),
    )


def _presented_token() -> tuple[str | None, str | None]:
    """(token, transport) from `Authorization: Bearer` or the session cookie."""
    header = request.headers.get("Authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise errors.AuthenticationRequired("Authorization header must be 'Bearer <token>'")
        return value.strip(), "bearer"
    cookie = request.cookies.get(current_app.config["AUTH_COOKIE_NAME"])
    if cookie:
        return cookie, "cookie"
    return None, None


def authenticate() -> tuple[User, SessionRecord]:
    """Resolve the caller's session, enforcing CSRF for cookie-authenticated unsafe requests."""
    token, transport = _presented_token()
    if token is None:
        raise errors.AuthenticationRequired()
    resolved = auth_service.resolve_session(token)
    if resolved is None:
        raise errors.AuthenticationRequired("Session is invalid or has expired")
    user, record = resolved
    if transport == "cookie" and request.method not in SAFE_METHODS:
        header = request.headers.get(current_app.config["CSRF_HEADER_NAME"])
        if not csrf_valid(current_app.config["SECRET_KEY"], record.token_hash, header):
            raise errors.PermissionDenied(
                "CSRF token missing or invalid: send the csrf_token cookie's value in the "
                f"{current_app.config['CSRF_HEADER_NAME']} header"
            )
    g.current_user = user
    g.current_session = record
    g.auth_transport = transport
    return user, record


def login_required(view: F) -> F:
    """Decorator: the view runs only for an authenticated caller (g.current_user is set)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature


def current_user() -> User:
    """The authenticated user (only inside a login_required view)."""
    return g.current_user


def current_session() -> SessionRecord:
    """The authenticated session (only inside a login_required view)."""
    return g.current_session


def set_session_cookies(response: Response, token: str, record: SessionRecord) -> None:
    """Set the HttpOnly session cookie and the readable CSRF cookie."""
    cfg = current_app.config
    csrf = csrf_token_for(cfg["SECRET_KEY"], record.token_hash)
    common = {
        "max_age": cfg["AUTH_SESSION_ABSOLUTE_TIMEOUT"],
        "secure": cfg["AUTH_COOKIE_SECURE"],
        "samesite": cfg["AUTH_COOKIE_SAMESITE"],
        "domain": cfg["AUTH_COOKIE_DOMAIN"],
        "path": "/",
    }
    response.set_cookie(cfg["AUTH_COOKIE_NAME"], token, httponly=True, **common)
    response.set_cookie(cfg["CSRF_COOKIE_NAME"], csrf, httponly=False, **common)


def clear_session_cookies(response: Response) -> None:
    """Remove both cookies."""
    cfg = current_app.config
    for name in (cfg["AUTH_COOKIE_NAME"], cfg["CSRF_COOKIE_NAME"]):
        response.delete_cookie(
            name,
            path="/",
            domain=cfg["AUTH_COOKIE_DOMAIN"],
            secure=cfg["AUTH_COOKIE_SECURE"],
            samesite=cfg["AUTH_COOKIE_SAMESITE"],
        )


def pagination_args(max_per_page: int = 100, default_per_page: int = 20) -> tuple[int, int]:
    """`page` (≥ 1) and `per_page` (1..max) from the query string; anything else is a 422."""
    problems: dict[str, list[str]] = {}
    values: dict[str, int] = {}
    for name, default, upper in (("page", 1, 10_000_000), ("per_page", default_per_page, max_per_page)):
        raw = request.args.get(name)
        if raw is None or raw == "":
            values[name] = default
            continue
        if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
            problems[name] = [f"Must be a whole number between 1 and {upper}."]
            continue
        number = int(raw)
        if not 1 <= number <= upper:
            problems[name] = [f"Must be a whole number between 1 and {upper}."]
            continue
        values[name] = number
    if problems:
        raise errors.ValidationFailed(details=problems)
    return values["page"], values["per_page"]


def query_args(schema: Schema, ignore: tuple[str, ...] = ("page", "per_page")) -> dict[str, Any]:
    """Validate the query string with `schema` (unknown parameters are a 422), skipping `ignore`."""
    raw = {key: value for key, value in request.args.items() if key not in ignore}
    return schema.load(raw)

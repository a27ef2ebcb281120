"""Rate-limit keys and the named limits that views apply (limits come from config, per app).

Every limit is keyed on something the client cannot respell:
- the client IP is `request.remote_addr`, which is the socket peer unless TRUSTED_PROXY_COUNT > 0
  makes ProxyFix take it from X-Forwarded-For (so a forged header changes nothing by default);
- the scope is the Flask endpoint, so `/login/`, `/LOGIN` or `//login` cannot open a new bucket
  (they do not reach the view at all, or are redirected to the one canonical URL);
- the per-account key is an HMAC of the normalised, lower-cased email, computed for every address
  whether or not an account exists (so the limit reveals nothing, and Redis holds no addresses).

Usage in a blueprint (the decorator goes under the route decorator):

    from app.security.ratelimit import contact_limit

    @bp.post("")
    @contact_limit
    def submit_contact(): ...
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from flask import current_app, request
from flask_limiter.extension import LimitDecorator
from marshmallow import ValidationError

from app.extensions import limiter
from app.schemas.fields import normalize_email
from app.security.tokens import sha256_hex


def client_ip() -> str:
    """The client address as trusted by the proxy configuration (ProxyFix runs before this)."""
    return "ip:" + (request.remote_addr or "unknown")


def account_key(email: str, secret_key: str) -> str:
    """A stable, non-reversible key for one address: HMAC of its normalised, lower-cased form."""
    try:
        canonical = normalize_email(email)
    except ValidationError:
        # Invalid addresses never reach a password check; they still share one bucket per spelling.
        canonical = email.strip()
    # surrogatepass: a lone surrogate from JSON ("\\ud800") must hash, not raise.
    message = ("account:" + canonical.lower()).encode("utf-8", "surrogatepass")
    return hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).hexdigest()[:40]


def login_email_key() -> str:
    """The per-account key of a login request, read from its JSON body (per IP when it has none)."""
    try:
        body = request.get_json(silent=True, cache=True)
    except RecursionError:  # silent=True covers ValueError only; deep nesting is the view's 400
        body = None
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or not email or len(email) > 1024:
        # No usable address (the view will answer 400/415/422): bucket by IP, not one global key.
        return "email:-" + client_ip()
    return "email:" + account_key(email, current_app.config["SECRET_KEY"])


def credential_or_ip() -> str:
    """The presented session credential (hashed), else the client IP.

    Authenticated limits follow the session, so a stolen token used from many addresses is still
    one bucket; unauthenticated calls fall back to the address.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else ""
    token = token or request.cookies.get(current_app.config["AUTH_COOKIE_NAME"], "")
    if token and len(token) <= 256:
        return "cred:" + sha256_hex(token)[:40]
    return client_ip()


def configured(name: str) -> Callable[[], str]:
    """A limit provider that reads config key `name` of the current app at request time."""
    return lambda: current_app.config[name]


def rate_limit(config_key: str, key_func: Callable[[], str] = client_ip) -> LimitDecorator:
    """A view decorator applying the limit string in `config_key`, bucketed by `key_func`."""
    return limiter.limit(configured(config_key), key_func=key_func)


login_ip_limit = rate_limit("RATELIMIT_LOGIN_IP")
login_email_limit = rate_limit("RATELIMIT_LOGIN_EMAIL", login_email_key)
register_limit = rate_limit("RATELIMIT_REGISTER")
password_change_limit = rate_limit("RATELIMIT_PASSWORD_CHANGE", credential_or_ip)
sessions_limit = rate_limit("RATELIMIT_SESSIONS", credential_or_ip)
# The public contact form: RATELIMIT_CONTACT (default "5 per hour") per client IP.
contact_limit = rate_limit("RATELIMIT_CONTACT")
CONTACT_LIMIT_CONFIG_KEY = "RATELIMIT_CONTACT"
# Mail flows: per client IP.
verify_email_resend_limit = rate_limit("RATELIMIT_VERIFY_EMAIL_RESEND")
password_forgot_limit = rate_limit("RATELIMIT_PASSWORD_FORGOT")

"""Security headers on every response (DESIGN §2, seed README "Security headers")."""

from __future__ import annotations

from flask import Flask, Response, request

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def apply_security_headers(response: Response, *, hsts: bool) -> Response:
    """Add the headers an auditor expects; pages (HTML) get a CSP that allows their own assets."""
    headers = response.headers
    is_html = response.mimetype == "text/html"
    headers.setdefault("Content-Security-Policy", PAGE_CSP if is_html else API_CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-site")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if hsts:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.path.startswith(("/api/", "/oauth2/")) and "Cache-Control" not in headers:
        # Everything under the API may carry a token or personal data.
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    """Register the after_request hook."""
    hsts = app.config.get("ENV_NAME") == "production"

    @app.after_request
    def _security_headers(response: Response) -> Response:
        return apply_security_headers(response, hsts=hsts)

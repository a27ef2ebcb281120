"""Security headers on every response (DESIGN §2, seed README "Security headers")."""

from __future__ import annotations

import sys

from flask import Flask, Response, request

# What the Server header says: no product or version (gunicorn announces "gunicorn").
SERVER_HEADER = "authy2"

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


def neutralise_gunicorn_server_header() -> bool:
    """Make gunicorn announce SERVER_HEADER instead of "gunicorn"; True when gunicorn is loaded.

    gunicorn writes its own `Server` line before the application's headers and offers no setting
    for it, so a WSGI app cannot remove it; it reads the text from `gunicorn.http.wsgi.SERVER` when
    each response starts, which is what this replaces (in the worker that imported the app).
    """
    module = sys.modules.get("gunicorn.http.wsgi")
    if module is None:
        return False
    if getattr(module, "SERVER", SERVER_HEADER) != SERVER_HEADER:
        module.SERVER = SERVER_HEADER  # type: ignore[attr-defined]  # the constant gunicorn reads
    return True


def init_app(app: Flask) -> None:
    """Register the after_request hook (and neutralise gunicorn's Server header if it serves us)."""
    hsts = app.config.get("ENV_NAME") == "production"
    neutralise_gunicorn_server_header()

    @app.after_request
    def _security_headers(response: Response) -> Response:
        if str(request.environ.get("SERVER_SOFTWARE", "")).startswith("gunicorn"):
            # gunicorn adds its own Server line; make sure it says SERVER_HEADER (covers --preload,
            # where the app was imported before the worker loaded gunicorn.http.wsgi).
            neutralise_gunicorn_server_header()
        else:
            # Servers such as waitress only add their own banner when the app sets none. (The
            # Werkzeug dev server adds "Werkzeug/x Python/y" regardless; it is for development.)
            response.headers["Server"] = SERVER_HEADER
        return apply_security_headers(response, hsts=hsts)

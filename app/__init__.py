"""The app factory: create_app(config_name) builds and wires an Authy2 Flask application."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dotenv import load_dotenv
from flask import Flask


def create_app(config_name: str | None = None, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app for `config_name` (default: FLASK_ENV), reading `.env` first if present.

    `overrides` replaces settings after the environment is read (tests use it to pick a backend).
    """
    load_dotenv(override=False)
    from app.config import load_config

    config = load_config(config_name)
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config.as_dict())
    app.config["ENV_NAME"] = config.ENV_NAME
    app.config.update(overrides or {})
    configure_database_path(app)
    configure_logging(app)
    configure_proxy(app)
    register_extensions(app)
    register_blueprints(app)
    configure_metrics(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def configure_database_path(app: Flask) -> None:
    """Resolve the default relative SQLite path into the instance folder (and create it)."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri == "sqlite:///db_file.db":
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "db_file.db")


def configure_logging(app: Flask) -> None:
    """Log to stderr with the request id on every line."""
    from app.logging_setup import setup_logging

    setup_logging(app)


def configure_proxy(app: Flask) -> None:
    """Trust X-Forwarded-* only from as many proxies as TRUSTED_PROXY_COUNT says."""
    count = app.config["TRUSTED_PROXY_COUNT"]
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]  # standard WSGI middleware wrapping


def register_extensions(app: Flask) -> None:
    """Bind the extensions and the session store."""
    from app import sessions
    from app.extensions import bcrypt, cors, db, limiter, migrate, redis_client
    from app.security import headers, lockout
    from app.security.cors import allowed_origins
    from app.services import mail as mail_service

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    bcrypt.init_app(app)
    cors.init_app(
        app,
        resources={r"/api/*": {"origins": allowed_origins(app.config["CORS_ORIGINS"])}},
        supports_credentials=True,
        allow_headers=["Content-Type", "Authorization", "X-CSRF-Token", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config.get("REDIS_URL") or "memory://"
    limiter.init_app(app)
    redis_client.init_app(app)
    sessions.init_app(app)
    lockout.init_app(app)
    headers.init_app(app)
    mail_service.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Attach the API blueprints."""
    from app.api import register_blueprints as register

    register(app)


def configure_metrics(app: Flask) -> None:
    """Count every request for Prometheus; expose GET /metrics when METRICS_ENABLED."""
    from app import metrics

    metrics.init_app(app)


def register_error_handlers(app: Flask) -> None:
    """Map every error to the envelope and give every request an id."""
    from app import envelope

    envelope.init_app(app)


def register_commands(app: Flask) -> None:
    """`flask seed`, `flask audit verify`, ... (also reachable through manage.py)."""
    from app.commands import register

    register(app)

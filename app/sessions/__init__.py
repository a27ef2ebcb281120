"""The session store: one interface (base), a Redis backend and a SQL backend."""

from __future__ import annotations

from flask import Flask, current_app

from app.sessions.base import SessionRecord, SessionSettings, SessionStore

EXTENSION_KEY = "authy2_session_store"


def build_store(app: Flask) -> SessionStore:
    """Redis whenever REDIS_URL is set, else the SQL store."""
    settings = SessionSettings(
        idle_timeout=app.config["AUTH_SESSION_IDLE_TIMEOUT"],
        absolute_timeout=app.config["AUTH_SESSION_ABSOLUTE_TIMEOUT"],
        touch_interval=app.config["AUTH_SESSION_TOUCH_INTERVAL"],
    )
    client = app.extensions.get("authy2_redis")
    if client is not None:
        from app.sessions.redis_store import RedisSessionStore

        return RedisSessionStore(client, settings)
    from app.sessions.sql_store import SqlSessionStore

    return SqlSessionStore(settings)


def init_app(app: Flask) -> None:
    """Attach the configured store to the app."""
    app.extensions[EXTENSION_KEY] = build_store(app)


def get_store() -> SessionStore:
    """The current app's session store."""
    return current_app.extensions[EXTENSION_KEY]


__all__ = ["SessionRecord", "SessionSettings", "SessionStore", "get_store", "init_app"]

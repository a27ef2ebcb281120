"""Flask extensions, created unbound here and bound to the app in the factory."""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask, current_app
from flask_bcrypt import Bcrypt
from flask_cors import CORS
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from app.models.base import Base
from app.security.app_limiter import AppLimiter

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
bcrypt = Bcrypt()
cors = CORS()
# Per-app storage, fails closed (see app/security/app_limiter.py). No X-RateLimit-*/Retry-After on
# every response: Retry-After belongs to the 429 envelope only.
limiter = AppLimiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)


class RedisClient:
    """Holds one redis.Redis per app, built from REDIS_URL; absent when REDIS_URL is unset."""

    extension_name = "authy2_redis"

    def init_app(self, app: Flask) -> None:
        """Create the client (lazy connections; short timeouts so a dead Redis fails fast)."""
        url = app.config.get("REDIS_URL")
        client = None
        if url:
            client = redis.Redis.from_url(
                url,
                socket_timeout=2,
                socket_connect_timeout=2,
                health_check_interval=30,
                retry_on_timeout=False,
                decode_responses=True,
            )
        app.extensions[self.extension_name] = client

    @property
    def client(self) -> redis.Redis | None:
        """The current app's Redis client, or None when Redis is not configured."""
        return current_app.extensions.get(self.extension_name)

    def __getattr__(self, name: str) -> Any:
        """Proxy attribute access to the current app's client."""
        client = self.client
        if client is None:
            raise RuntimeError("REDIS_URL is not configured")
        return getattr(client, name)


redis_client = RedisClient()

"""Flask-Limiter, made safe for several apps in one process (tests, CLI + server).

Flask-Limiter keeps its storage, strategy and on/off switch on the extension instance, so a second
`init_app` silently re-points every earlier app at the new storage (and a disabled app disables the
others). AppLimiter keeps those three per app in `app.extensions`, and never swallows storage
errors: a Redis outage raises `redis.ConnectionError`, which the envelope turns into a 503 — rate
limits fail closed instead of switching themselves off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_app_context
from flask_limiter import Limiter
from limits.storage import Storage, storage_from_string
from limits.strategies import STRATEGIES, RateLimiter

from app.config import ConfigError

STATE_KEY = "authy2_limiter_state"
# A dead Redis must fail the request quickly, not hang a worker.
STORAGE_OPTIONS = {"socket_timeout": 2, "socket_connect_timeout": 2}


@dataclass(frozen=True)
class LimiterState:
    """One app's rate-limit storage, strategy and switch."""

    enabled: bool
    storage: Storage
    strategy: RateLimiter


class AppLimiter(Limiter):
    """A Limiter whose storage, strategy and `enabled` flag are looked up per app."""

    def __init__(self, **kwargs: Any) -> None:
        """Same arguments as Limiter; swallow_errors and the in-memory fallback are forced off."""
        kwargs.update(swallow_errors=False, in_memory_fallback_enabled=False)
        super().__init__(**kwargs)
        self.request_filter(self._disabled_for_current_app)

    def init_app(self, app: Flask) -> None:
        """Bind to `app`, recording its own storage (RATELIMIT_STORAGE_URI) and strategy."""
        enabled = bool(app.config.get("RATELIMIT_ENABLED", True))
        uri = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
        options = dict(STORAGE_OPTIONS) if uri.startswith(("redis://", "rediss://")) else {}
        options.update(app.config.get("RATELIMIT_STORAGE_OPTIONS") or {})
        strategy_name = app.config.get("RATELIMIT_STRATEGY") or "moving-window"
        if strategy_name not in STRATEGIES:
            raise ConfigError(
                f"RATELIMIT_STRATEGY must be one of {', '.join(STRATEGIES)}, got {strategy_name!r}"
            )
        storage = storage_from_string(uri, **options)
        state = LimiterState(enabled, storage, STRATEGIES[strategy_name](storage))
        # The hooks must be registered even for a disabled app: the switch is per app (below).
        app.config["RATELIMIT_ENABLED"] = True
        app.config["RATELIMIT_STORAGE_URI"] = uri
        app.config["RATELIMIT_SWALLOW_ERRORS"] = False
        try:
            super().init_app(app)
        finally:
            app.config["RATELIMIT_ENABLED"] = enabled
        app.extensions[STATE_KEY] = state

    @staticmethod
    def _state() -> LimiterState:
        return current_app.extensions[STATE_KEY]

    def _disabled_for_current_app(self) -> bool:
        """Request filter: True (skip every limit) when this app has RATELIMIT_ENABLED off."""
        return not self._state().enabled

    @property
    def storage(self) -> Storage:
        """The current app's storage."""
        if has_app_context() and STATE_KEY in current_app.extensions:
            return self._state().storage
        return super().storage

    @property
    def limiter(self) -> RateLimiter:
        """The current app's strategy (what Flask-Limiter calls `hit`/`test` on)."""
        if has_app_context() and STATE_KEY in current_app.extensions:
            return self._state().strategy
        return super().limiter

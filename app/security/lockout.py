"""Account lockout counters: reserve an attempt atomically *before* the password is checked.

A counter that is only bumped after a failed check lets N parallel guesses all pass the "is it
locked?" test before any of them is counted. Here each attempt first reserves a slot (one atomic
INCR in a Lua script, or one upsert in SQL); only slots 1..LOCKOUT_THRESHOLD go on to verify the
password, and the failure that fills the last slot locks the key for LOCKOUT_DURATION seconds.
A success frees the key. Keys are HMACs of the normalised address (see ratelimit.account_key), so
unknown addresses are counted and locked exactly like real ones.

Backends: Redis whenever REDIS_URL is set; otherwise the `login_throttles` table (atomic
`INSERT .. ON CONFLICT DO UPDATE .. RETURNING` on PostgreSQL and SQLite, committed on its own
connection so that every worker sees it at once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models.throttle import LoginThrottle

EXTENSION_KEY = "authy2_lockout"
REDIS_PREFIX = "authy2:lockout:"

# KEYS[1] attempt counter, KEYS[2] lock. ARGV: threshold, window ms, lock ms.
# Returns {1, n} when attempt n may check the password, {0, ms} when refused for ms milliseconds.
RESERVE_LUA = """
local locked = redis.call('PTTL', KEYS[2])
if locked > 0 then return {0, locked} end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then return {0, tonumber(ARGV[3])} end
return {1, n}
"""
# Lock after the failure that used the last slot; the counter starts afresh after the lock.
LOCK_LUA = """
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""


@dataclass(frozen=True)
class Reservation:
    """The outcome of asking to try a password: allowed with attempt number, or refused for a while."""

    allowed: bool
    attempt: int = 0
    retry_after: int = 0


@dataclass(frozen=True)
class LockoutPolicy:
    """How many failures in how long lock a key, and for how long (seconds)."""

    threshold: int
    window: int
    duration: int


class LockoutGate:
    """No lockout (LOCKOUT_ENABLED off): every attempt is allowed."""

    def __init__(self, policy: LockoutPolicy) -> None:
        """Keep the policy."""
        self.policy = policy

    def reserve(self, key: str) -> Reservation:
        """Ask to check one password for `key`."""
        return Reservation(True, 1)

    def fail(self, key: str, attempt: int) -> bool:
        """Record that `attempt` failed; True when this failure locked the key."""
        return False

    def succeed(self, key: str) -> None:
        """Forget the key's failures after a successful login."""


class RedisLockoutGate(LockoutGate):
    """Counters and locks as Redis keys with TTLs; reserve is one Lua script (atomic)."""

    def __init__(self, policy: LockoutPolicy, client: Any) -> None:
        """`client` is the app's redis.Redis."""
        super().__init__(policy)
        self.client = client
        self._reserve = client.register_script(RESERVE_LUA)
        self._lock = client.register_script(LOCK_LUA)

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [f"{REDIS_PREFIX}n:{key}", f"{REDIS_PREFIX}lock:{key}"]

    def reserve(self, key: str) -> Reservation:
        """INCR the counter unless locked; refuse past the threshold."""
        p = self.policy
        allowed, value = self._reserve(
            keys=self._keys(key), args=[p.threshold, p.window * 1000, p.duration * 1000]
        )
        if int(allowed):
            return Reservation(True, int(value))
        return Reservation(False, 0, max(1, -(-int(value) // 1000)))

    def fail(self, key: str, attempt: int) -> bool:
        """Lock when the failing attempt used the last slot."""
        if attempt < self.policy.threshold:
            return False
        self._lock(keys=self._keys(key), args=[self.policy.duration * 1000])
        return True

    def succeed(self, key: str) -> None:
        """Delete the counter (a lock cannot be active: locked keys never reach a check)."""
        self.client.delete(self._keys(key)[0])


class SqlLockoutGate(LockoutGate):
    """Counters in the login_throttles table; each call commits on its own connection."""

    @staticmethod
    def _now_ms() -> int:
        return int(time.time() * 1000)

    def reserve(self, key: str) -> Reservation:
        """One atomic upsert: a new window, one more attempt, or (when locked) unchanged."""
        p = self.policy
        now = self._now_ms()
        table = LoginThrottle.__table__
        dialect = db.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(table).values(
            key=key, attempts=1, window_ends_ms=now + p.window * 1000, locked_until_ms=0
        )
        old = table.c
        is_locked = old.locked_until_ms > now
        expired = old.window_ends_ms <= now
        stmt = stmt.on_conflict_do_update(
            index_elements=[old.key],
            set_={
                "attempts": case((is_locked, old.attempts), (expired, 1), else_=old.attempts + 1),
                "window_ends_ms": case(
                    (is_locked, old.window_ends_ms),
                    (expired, now + p.window * 1000),
                    else_=old.window_ends_ms,
                ),
            },
        ).returning(table.c.attempts, table.c.locked_until_ms)
        with db.engine.begin() as conn:
            attempts, locked_until = conn.execute(stmt).one()
        if locked_until > now:
            return Reservation(False, 0, max(1, -(-(locked_until - now) // 1000)))
        if attempts > p.threshold:
            return Reservation(False, 0, p.duration)
        return Reservation(True, int(attempts))

    def fail(self, key: str, attempt: int) -> bool:
        """Lock when the failing attempt used the last slot (and prune long-dead rows meanwhile)."""
        if attempt < self.policy.threshold:
            return False
        now = self._now_ms()
        with db.engine.begin() as conn:
            conn.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key)
                .values(locked_until_ms=now + self.policy.duration * 1000, attempts=0)
            )
            conn.execute(
                delete(LoginThrottle).where(
                    LoginThrottle.window_ends_ms < now, LoginThrottle.locked_until_ms < now
                )
            )
        return True

    def succeed(self, key: str) -> None:
        """Delete the key's row."""
        with db.engine.begin() as conn:
            conn.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def build_gate(app: Flask) -> LockoutGate:
    """Redis when REDIS_URL is set, else SQL; a no-op gate when LOCKOUT_ENABLED is off."""
    policy = LockoutPolicy(
        threshold=max(1, int(app.config["LOCKOUT_THRESHOLD"])),
        window=max(1, int(app.config["LOCKOUT_WINDOW"])),
        duration=max(1, int(app.config["LOCKOUT_DURATION"])),
    )
    if not app.config.get("LOCKOUT_ENABLED", True):
        return LockoutGate(policy)
    client = app.extensions.get("authy2_redis")
    if client is not None:
        return RedisLockoutGate(policy, client)
    return SqlLockoutGate(policy)


def init_app(app: Flask) -> None:
    """Attach the configured gate to the app (after the Redis client)."""
    app.extensions[EXTENSION_KEY] = build_gate(app)


def get_gate() -> LockoutGate:
    """The current app's lockout gate."""
    return current_app.extensions[EXTENSION_KEY]

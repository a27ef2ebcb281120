"""Redis session backend: a hash per session, an id -> hash pointer, and a per-user index set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import redis

from app.models.base import utcnow
from app.security.tokens import sha256_hex
from app.sessions.base import SessionRecord, SessionSettings, SessionStore

PREFIX = "authy2:sess:"


def _ts(value: datetime) -> str:
    """Encode a datetime as epoch seconds."""
    return f"{value.timestamp():.6f}"


def _dt(value: str) -> datetime:
    """Decode epoch seconds into an aware UTC datetime."""
    return datetime.fromtimestamp(float(value), tz=UTC)


class RedisSessionStore(SessionStore):
    """Sessions in Redis with TTLs, so expired ones disappear by themselves."""

    def __init__(
        self,
        client: redis.Redis,
        settings: SessionSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`client` must decode responses to str."""
        super().__init__(settings, clock)
        self.client = client

    @staticmethod
    def _session_key(token_hash: str) -> str:
        return f"{PREFIX}t:{token_hash}"

    @staticmethod
    def _id_key(session_id: str) -> str:
        return f"{PREFIX}id:{session_id}"

    @staticmethod
    def _user_key(user_id: str) -> str:
        return f"{PREFIX}u:{user_id}"

    def _ttl(self, record: SessionRecord, now: datetime) -> int:
        """Seconds until the earlier of the idle and absolute deadlines (at least 1)."""
        deadline = min(record.expires_at, record.idle_expires_at(self.settings))
        return max(1, int((deadline - now).total_seconds()) + 1)

    @staticmethod
    def _encode(record: SessionRecord) -> dict[str, str]:
        return {
            "id": record.id,
            "user_id": record.user_id,
            "auth_method": record.auth_method,
            "ip": record.ip or "",
            "user_agent": record.user_agent or "",
            "created_at": _ts(record.created_at),
            "last_seen_at": _ts(record.last_seen_at),
            "expires_at": _ts(record.expires_at),
        }

    @staticmethod
    def _decode(token_hash: str, data: dict[str, str]) -> SessionRecord | None:
        try:
            return SessionRecord(
                id=data["id"],
                token_hash=token_hash,
                user_id=data["user_id"],
                auth_method=data["auth_method"],
                ip=data.get("ip") or None,
                user_agent=data.get("user_agent") or None,
                created_at=_dt(data["created_at"]),
                last_seen_at=_dt(data["last_seen_at"]),
                expires_at=_dt(data["expires_at"]),
            )
        except (KeyError, ValueError):
            return None

    def create(
        self, user_id: str, auth_method: str, ip: str | None, user_agent: str | None
    ) -> tuple[str, SessionRecord]:
        """Write the session hash, its id pointer and the user index in one transaction."""
        token, record = self.new_record(user_id, auth_method, ip, user_agent)
        ttl = self._ttl(record, record.created_at)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self._session_key(record.token_hash), mapping=self._encode(record))
        pipe.expire(self._session_key(record.token_hash), ttl)
        pipe.set(self._id_key(record.id), record.token_hash, ex=ttl)
        pipe.sadd(self._user_key(record.user_id), record.id)
        pipe.expire(self._user_key(record.user_id), self.settings.absolute_timeout + 60)
        pipe.execute()
        return token, record

    def get(self, token: str) -> SessionRecord | None:
        """One HGETALL; a second round trip only when last_seen_at is due for a write."""
        token_hash = sha256_hex(token)
        data = self.client.hgetall(self._session_key(token_hash))
        if not data:
            return None
        record = self._decode(token_hash, data)
        now = self.clock()
        if record is None or record.is_expired(now, self.settings):
            if record is not None:
                self._delete(record)
            return None
        if self.needs_touch(record, now):
            record.last_seen_at = now
            ttl = self._ttl(record, now)
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(self._session_key(token_hash), "last_seen_at", _ts(now))
            pipe.expire(self._session_key(token_hash), ttl)
            pipe.expire(self._id_key(record.id), ttl)
            pipe.execute()
        return record

    def _load_many(self, session_ids: list[str]) -> list[tuple[str, SessionRecord | None]]:
        """Fetch records for public ids in two pipelined round trips."""
        pipe = self.client.pipeline(transaction=False)
        for session_id in session_ids:
            pipe.get(self._id_key(session_id))
        hashes = pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        for token_hash in hashes:
            pipe.hgetall(self._session_key(token_hash) if token_hash else PREFIX + "missing")
        rows = pipe.execute()
        out: list[tuple[str, SessionRecord | None]] = []
        for session_id, token_hash, data in zip(session_ids, hashes, rows, strict=True):
            record = self._decode(token_hash, data) if token_hash and data else None
            out.append((session_id, record))
        return out

    def list_for_user(self, user_id: str) -> list[SessionRecord]:
        """Live sessions from the user's index; stale index entries are pruned on the way."""
        user_key = self._user_key(str(user_id))
        session_ids = sorted(self.client.smembers(user_key))
        if not session_ids:
            return []
        now = self.clock()
        live: list[SessionRecord] = []
        stale: list[str] = []
        for session_id, record in self._load_many(session_ids):
            if record is None or record.is_expired(now, self.settings):
                stale.append(session_id)
            else:
                live.append(record)
        if stale:
            self.client.srem(user_key, *stale)
        live.sort(key=lambda r: r.created_at, reverse=True)
        return live

    def _delete(self, record: SessionRecord) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self._session_key(record.token_hash))
        pipe.delete(self._id_key(record.id))
        pipe.srem(self._user_key(record.user_id), record.id)
        pipe.execute()

    def revoke(self, user_id: str, session_id: str) -> bool:
        """Delete one session if it belongs to `user_id`."""
        token_hash = self.client.get(self._id_key(session_id))
        if not token_hash:
            return False
        data = self.client.hgetall(self._session_key(token_hash))
        record = self._decode(token_hash, data) if data else None
        if record is None or record.user_id != str(user_id):
            return False
        self._delete(record)
        return True

    def revoke_all_for_user(self, user_id: str, except_session_id: str | None = None) -> int:
        """Delete every indexed session of the user except one."""
        user_key = self._user_key(str(user_id))
        session_ids = [s for s in self.client.smembers(user_key) if s != except_session_id]
        if not session_ids:
            return 0
        count = 0
        pipe = self.client.pipeline(transaction=True)
        for session_id, record in self._load_many(session_ids):
            if record is not None:
                count += 1
                pipe.delete(self._session_key(record.token_hash))
            pipe.delete(self._id_key(session_id))
            pipe.srem(user_key, session_id)
        pipe.execute()
        return count

    def ping(self) -> None:
        """PING Redis."""
        self.client.ping()

"""The session-store contract shared by the Redis and SQL backends (DESIGN §3)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.models.base import utcnow
from app.security.tokens import new_token, sha256_hex

AUTH_METHODS = frozenset({"password", "google", "github", "microsoft", "saml", "oidc"})


@dataclass(frozen=True)
class SessionSettings:
    """Timeouts in seconds: idle (since last request), absolute (since login), touch interval."""

    idle_timeout: int
    absolute_timeout: int
    touch_interval: int = 60


@dataclass
class SessionRecord:
    """What a store knows about one session; never the token itself."""

    id: str
    token_hash: str
    user_id: str
    auth_method: str
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime

    def idle_expires_at(self, settings: SessionSettings) -> datetime:
        """When the session dies if no further request arrives."""
        return self.last_seen_at + timedelta(seconds=settings.idle_timeout)

    def is_expired(self, now: datetime, settings: SessionSettings) -> bool:
        """Past its absolute or idle deadline."""
        return now >= self.expires_at or now >= self.idle_expires_at(settings)


class SessionStore(abc.ABC):
    """Create, look up (touching last_seen), list and revoke sessions."""

    def __init__(self, settings: SessionSettings, clock: Callable[[], datetime] = utcnow) -> None:
        """`clock` is injectable so expiry can be tested without sleeping."""
        self.settings = settings
        self.clock = clock

    def new_record(
        self, user_id: str, auth_method: str, ip: str | None, user_agent: str | None
    ) -> tuple[str, SessionRecord]:
        """Make a fresh token (256 bits) and the record that describes it."""
        if auth_method not in AUTH_METHODS:
            raise ValueError(f"unknown auth method {auth_method!r}")
        token = new_token(32)
        now = self.clock()
        record = SessionRecord(
            id=new_token(16),
            token_hash=sha256_hex(token),
            user_id=str(user_id),
            auth_method=auth_method,
            ip=(ip or None) and ip[:64],
            user_agent=(user_agent or None) and user_agent[:512],
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=self.settings.absolute_timeout),
        )
        return token, record

    def needs_touch(self, record: SessionRecord, now: datetime) -> bool:
        """Whether last_seen_at is stale enough to be written again."""
        return (now - record.last_seen_at).total_seconds() >= self.settings.touch_interval

    @abc.abstractmethod
    def create(
        self, user_id: str, auth_method: str, ip: str | None, user_agent: str | None
    ) -> tuple[str, SessionRecord]:
        """Store a new session; return the token (shown once) and its record."""

    @abc.abstractmethod
    def get(self, token: str) -> SessionRecord | None:
        """The live session for `token`, touching last_seen_at; None if unknown, expired or revoked."""

    @abc.abstractmethod
    def list_for_user(self, user_id: str) -> list[SessionRecord]:
        """The user's live sessions, newest first."""

    @abc.abstractmethod
    def revoke(self, user_id: str, session_id: str) -> bool:
        """Revoke one of the user's sessions by public id; False if it is not theirs or not live."""

    @abc.abstractmethod
    def revoke_all_for_user(self, user_id: str, except_session_id: str | None = None) -> int:
        """Revoke every session of the user but `except_session_id`; return how many."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise if the backing service is unreachable."""

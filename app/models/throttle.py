"""Login-attempt counters for the SQL lockout backend (the Redis backend keeps the same in keys)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class LoginThrottle(Base):
    """Failed-attempt counter and lock for one account key (an HMAC of the address, never the address).

    Times are epoch milliseconds so the atomic upsert can compare them the same way on PostgreSQL
    and SQLite.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    window_ends_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    locked_until_ms: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)

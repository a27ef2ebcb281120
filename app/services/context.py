"""Who is asking and from where: passed explicitly from the views into services."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestInfo:
    """Client facts recorded with sessions and audit rows."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


SYSTEM = RequestInfo(ip=None, user_agent="system", request_id=None)

"""SQL session backend: the auth_sessions table, for the embedded default without Redis."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, text

from app.extensions import db
from app.models.session import AuthSession
from app.security.tokens import sha256_hex
from app.sessions.base import SessionRecord, SessionStore


def _to_record(row: AuthSession) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        token_hash=row.token_hash,
        user_id=str(row.user_id),
        auth_method=row.auth_method,
        ip=row.ip,
        user_agent=row.user_agent,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
    )


class SqlSessionStore(SessionStore):
    """Sessions as rows. Each write is committed at once: a session exists when create() returns."""

    def _idle_cutoff(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.settings.idle_timeout)

    def create(
        self, user_id: str, auth_method: str, ip: str | None, user_agent: str | None
    ) -> tuple[str, SessionRecord]:
        """Insert the row and commit."""
        token, record = self.new_record(user_id, auth_method, ip, user_agent)
        db.session.add(
            AuthSession(
                id=record.id,
                token_hash=record.token_hash,
                user_id=uuid.UUID(record.user_id),
                auth_method=record.auth_method,
                ip=record.ip,
                user_agent=record.user_agent,
                created_at=record.created_at,
                last_seen_at=record.last_seen_at,
                expires_at=record.expires_at,
            )
        )
        db.session.commit()
        return token, record

    def get(self, token: str) -> SessionRecord | None:
        """Look up by token hash; expired rows are deleted, stale last_seen_at is refreshed."""
        token_hash = sha256_hex(token)
        row = db.session.execute(
            select(AuthSession).where(AuthSession.token_hash == token_hash)
        ).scalar_one_or_none()
        if row is None:
            return None
        record = _to_record(row)
        now = self.clock()
        if record.is_expired(now, self.settings):
            db.session.delete(row)
            db.session.commit()
            return None
        if self.needs_touch(record, now):
            row.last_seen_at = now
            record.last_seen_at = now
            db.session.commit()
        return record

    def list_for_user(self, user_id: str) -> list[SessionRecord]:
        """Live sessions of one user (indexed by user_id), pruning that user's expired rows."""
        uid = uuid.UUID(str(user_id))
        now = self.clock()
        expired = or_(AuthSession.expires_at <= now, AuthSession.last_seen_at <= self._idle_cutoff(now))
        result = db.session.execute(delete(AuthSession).where(AuthSession.user_id == uid, expired))
        if result.rowcount:
            db.session.commit()
        rows = db.session.execute(
            select(AuthSession).where(AuthSession.user_id == uid).order_by(AuthSession.created_at.desc())
        ).scalars()
        return [_to_record(r) for r in rows]

    def revoke(self, user_id: str, session_id: str) -> bool:
        """Delete the row if it is the user's."""
        result = db.session.execute(
            delete(AuthSession).where(
                AuthSession.id == session_id, AuthSession.user_id == uuid.UUID(str(user_id))
            )
        )
        db.session.commit()
        return bool(result.rowcount)

    def revoke_all_for_user(self, user_id: str, except_session_id: str | None = None) -> int:
        """Delete the user's rows except one."""
        stmt = delete(AuthSession).where(AuthSession.user_id == uuid.UUID(str(user_id)))
        if except_session_id:
            stmt = stmt.where(AuthSession.id != except_session_id)
        result = db.session.execute(stmt)
        db.session.commit()
        return int(result.rowcount or 0)

    def ping(self) -> None:
        """SELECT 1 on the database."""
        db.session.execute(text("SELECT 1"))

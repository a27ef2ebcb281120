"""The hash-chained, append-only audit log (DESIGN §5): append and verify."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, text

from app.extensions import db
from app.models.audit import AuditLog
from app.models.base import utcnow
from app.services.context import RequestInfo

GENESIS_HASH = "0" * 64
# Any constant works: it names the one PostgreSQL advisory lock that serialises appends.
AUDIT_LOCK_KEY = 0x41555448  # "AUTH"
SECRET_MARKERS = ("password", "token", "secret", "cookie", "authorization", "hash", "key")


def _scrub(details: dict[str, Any] | None) -> dict[str, Any]:
    """Drop any key that looks like it could carry a secret (defence in depth)."""
    clean: dict[str, Any] = {}
    for key, value in (details or {}).items():
        if any(marker in key.lower() for marker in SECRET_MARKERS):
            continue
        clean[key] = _scrub(value) if isinstance(value, dict) else value
    return clean


def canonical(row: AuditLog) -> str:
    """The canonical serialisation that a row's hash covers (everything but id and hash)."""
    payload = {
        "occurred_at": row.occurred_at.isoformat(),
        "action": row.action,
        "actor_user_id": str(row.actor_user_id) if row.actor_user_id else None,
        "organization_id": str(row.organization_id) if row.organization_id else None,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "request_id": row.request_id,
        "details": row.details,
        "prev_hash": row.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def compute_hash(row: AuditLog) -> str:
    """SHA-256 over the canonical record (which includes the previous hash)."""
    return hashlib.sha256(canonical(row).encode("utf-8")).hexdigest()


def _lock_chain() -> None:
    """Serialise appends until commit, so concurrent writers cannot fork the chain."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})


def record(
    action: str,
    ctx: RequestInfo | None = None,
    *,
    actor_user_id: uuid.UUID | str | None = None,
    organization_id: uuid.UUID | str | None = None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one event to the chain (flushed, committed with the caller's transaction)."""
    ctx = ctx or RequestInfo()
    _lock_chain()
    prev = db.session.execute(
        select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)
    ).scalar_one_or_none()
    row = AuditLog(
        occurred_at=utcnow(),
        action=action,
        actor_user_id=uuid.UUID(str(actor_user_id)) if actor_user_id else None,
        organization_id=uuid.UUID(str(organization_id)) if organization_id else None,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=ctx.ip,
        user_agent=(ctx.user_agent or None) and ctx.user_agent[:512],
        request_id=ctx.request_id,
        details=json.loads(json.dumps(_scrub(details), default=str)),
        prev_hash=prev or GENESIS_HASH,
    )
    row.hash = compute_hash(row)
    db.session.add(row)
    db.session.flush()
    return row


@dataclass(frozen=True)
class ChainProblem:
    """The first row where the chain breaks, and why."""

    row_id: int
    reason: str


def _rows_in_order(batch: int = 5000) -> Iterator[AuditLog]:
    """Every audit row by id, in batches (keyset pagination keeps memory flat)."""
    last_id = 0
    while True:
        rows = (
            db.session.execute(
                select(AuditLog).where(AuditLog.id > last_id).order_by(AuditLog.id).limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
        db.session.expunge_all()


def verify_chain() -> tuple[int, ChainProblem | None]:
    """Walk the chain; return (rows checked, first problem or None)."""
    report = walk_chain()
    return report.count, report.problem


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking the chain: rows checked, the first problem, and the head row."""

    count: int
    problem: ChainProblem | None
    head_id: int | None
    head_hash: str | None


def walk_chain(expect_hash: str | None = None) -> ChainReport:
    """Verify the chain and report its head. With `expect_hash` (a head hash noted earlier), also
    fail unless a row with that hash is still in the verified chain: this catches the deletion of
    the newest rows, which the chain alone cannot show."""
    expected_prev = GENESIS_HASH
    count = 0
    head_id: int | None = None
    anchor_seen = expect_hash is None
    for row in _rows_in_order():
        count += 1
        if row.prev_hash != expected_prev:
            problem = ChainProblem(
                row.id, "prev_hash does not match the previous row (a row was deleted or inserted)"
            )
            return ChainReport(count, problem, head_id, expected_prev if head_id is not None else None)
        if compute_hash(row) != row.hash:
            problem = ChainProblem(row.id, "hash does not match the row's contents (the row was edited)")
            return ChainReport(count, problem, head_id, expected_prev if head_id is not None else None)
        expected_prev = row.hash
        head_id = row.id
        if not anchor_seen and row.hash == expect_hash:
            anchor_seen = True
    head_hash = expected_prev if head_id is not None else None
    if not anchor_seen:
        problem = ChainProblem(
            head_id or 0,
            "the expected head hash is not in the chain (newer rows were deleted, or the anchor is wrong)",
        )
        return ChainReport(count, problem, head_id, head_hash)
    return ChainReport(count, None, head_id, head_hash)


# --- read API ----------------------------------------------------------------------------------


def filter_conditions(filters: dict[str, Any]) -> list[ColumnElement[bool]]:
    """WHERE clauses for the read-API filters: action (exact, or prefix when it ends in `*`),
    actor (user id), since (inclusive) and until (exclusive)."""
    conditions: list[ColumnElement[bool]] = []
    action: str | None = filters.get("action")
    if action:
        if action.endswith("*"):
            conditions.append(AuditLog.action.startswith(action[:-1], autoescape=True))
        else:
            conditions.append(AuditLog.action == action)
    if filters.get("actor") is not None:
        conditions.append(AuditLog.actor_user_id == filters["actor"])
    since: datetime | None = filters.get("since")
    if since is not None:
        conditions.append(AuditLog.occurred_at >= since)
    until: datetime | None = filters.get("until")
    if until is not None:
        conditions.append(AuditLog.occurred_at < until)
    return conditions


def search(
    scope: list[ColumnElement[bool]], filters: dict[str, Any], *, page: int, per_page: int
) -> tuple[int, list[AuditLog]]:
    """(total, one page of rows newest first) for `scope` plus the read-API `filters`."""
    where = [*scope, *filter_conditions(filters)]
    total = db.session.execute(select(func.count()).select_from(AuditLog).where(*where)).scalar_one()
    rows = (
        db.session.execute(
            select(AuditLog)
            .where(*where)
            .order_by(AuditLog.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        .scalars()
        .all()
    )
    return total, list(rows)


def as_dict(row: AuditLog, *, redact_client: bool = False) -> dict[str, Any]:
    """A row as plain data for the read APIs; `redact_client` hides another person's ip/user agent."""
    return {
        "id": row.id,
        "occurred_at": row.occurred_at,
        "action": row.action,
        "actor_user_id": row.actor_user_id,
        "organization_id": row.organization_id,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip": None if redact_client else row.ip,
        "user_agent": None if redact_client else row.user_agent,
        "request_id": row.request_id,
        "details": row.details,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }

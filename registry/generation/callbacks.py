"""Callback notices owed to clients: one per ended job that named a callback URL, delivered
with retries on the Standard Webhooks schedule, every attempt logged. Never commits."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import JsonValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.domain import Frozen
from registry.errors import translate_database_errors
from registry.generation.domain import CallbackStatus
from registry.generation.tables import CallbackRow

C = CallbackRow
# Seconds after the first attempt at which each retry goes (Standard Webhooks' suggested
# schedule: now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h).
RETRY_SCHEDULE = (5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400)
GONE = 410  # the receiver asks to stop: no more attempts


class PendingCallback(Frozen):
    id: int
    team_id: int
    job_id: int
    url: str
    webhook_id: str
    payload: bytes
    attempts: int


class CallbackLogEntry(Frozen):
    at: datetime
    status_code: int | None
    error: str | None


def schedule_callback(
    session: Session,
    *,
    team_id: int,
    job_id: int,
    url: str,
    webhook_id: str,
    payload: bytes,
    now: datetime,
) -> int | None:
    """Owe the notice, due now; None if the job's notice was scheduled already."""
    existing = session.scalar(select(C.id).where(C.job_id == job_id))
    if existing is not None:
        return None
    row = C(
        team_id=team_id,
        job_id=job_id,
        url=url,
        webhook_id=webhook_id,
        payload=payload,
        next_attempt_at=now,
        created_at=now,
    )
    with translate_database_errors("scheduling a callback"):
        session.add(row)
        session.flush()
    return row.id


def due_callbacks(
    session: Session, *, now: datetime, limit: int, ids: list[int] | None = None
) -> list[PendingCallback]:
    """Pending notices due now (or these ones, if due), each pushed a minute on as a lease."""
    query = select(C).where(C.status == CallbackStatus.PENDING.value, C.next_attempt_at <= now)
    if ids is not None:
        query = query.where(C.id.in_(ids))
    query = query.order_by(C.next_attempt_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.scalars(query).all()
    for row in rows:
        row.next_attempt_at = now + timedelta(seconds=60)
    session.flush()
    return [
        PendingCallback(
            id=row.id,
            team_id=row.team_id,
            job_id=row.job_id,
            url=row.url,
            webhook_id=row.webhook_id,
            payload=row.payload,
            attempts=row.attempts,
        )
        for row in rows
    ]


def record_attempt(session: Session, callback_id: int, entry: CallbackLogEntry) -> CallbackStatus:
    """Log one attempt and decide what comes next: delivered, the next retry, or giving up."""
    row = session.get(C, callback_id)
    if row is None:
        raise ValueError(f"no callback {callback_id}")
    row.attempts += 1
    log: list[JsonValue] = [*row.attempt_log, entry.model_dump(mode="json")]
    row.attempt_log = log[-(len(RETRY_SCHEDULE) + 1) :]
    delivered = entry.status_code is not None and 200 <= entry.status_code < 300
    if delivered:
        row.status, row.delivered_at, row.next_attempt_at = (
            CallbackStatus.DELIVERED.value,
            entry.at,
            None,
        )
    elif entry.status_code == GONE or row.attempts > len(RETRY_SCHEDULE):
        row.status, row.next_attempt_at = CallbackStatus.GAVE_UP.value, None
    else:
        first = row.created_at
        row.next_attempt_at = max(
            entry.at, first + timedelta(seconds=RETRY_SCHEDULE[row.attempts - 1])
        )
    session.flush()
    return CallbackStatus(row.status)


def callbacks_of_job(session: Session, job_id: int) -> list[dict[str, JsonValue]]:
    """The job's notice as stored, for reports and tests."""
    row = session.scalar(select(C).where(C.job_id == job_id))
    if row is None:
        return []
    return [
        {
            "status": row.status,
            "attempts": row.attempts,
            "url": row.url,
            "webhook_id": row.webhook_id,
            "log": row.attempt_log,
            "next_attempt_at": None
            if row.next_attempt_at is None
            else row.next_attempt_at.isoformat(),
        }
    ]


__all__ = [
    "GONE",
    "RETRY_SCHEDULE",
    "CallbackLogEntry",
    "PendingCallback",
    "callbacks_of_job",
    "due_callbacks",
    "record_attempt",
    "schedule_callback",
]

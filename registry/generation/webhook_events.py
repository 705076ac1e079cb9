"""Incoming provider webhooks as received: every one is stored (raw payload, bounded), with
its verdict; verified ones are deduplicated by the provider's webhook id. Never commits."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import JsonValue
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.errors import translate_database_errors
from registry.generation.domain import WebhookEventRecord, WebhookVerdict
from registry.generation.tables import WebhookEventRow
from registry.text import visible

E = WebhookEventRow
MAX_STORED_PAYLOAD = 256 * 1024  # bytes of a body kept; a longer one is kept truncated
MAX_HEADER_CHARS = 512
# Headers worth keeping to explain a verdict; never Authorization or cookies.
KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "x-webhook-timestamp",
)


@dataclass(frozen=True)
class Received:
    """One delivery as it arrived, before any verdict."""

    provider: str
    headers: Mapping[str, str]
    body: bytes
    at: datetime


def store_event(
    session: Session,
    received: Received,
    verdict: WebhookVerdict,
    *,
    detail: str = "",
    webhook_id: str | None = None,
    team_id: int | None = None,
    job_id: int | None = None,
    provider_job_id: str | None = None,
) -> WebhookEventRecord:
    """Store a delivery with its verdict. An `accepted` event takes its webhook id as dedup
    key; if another event took it first, the delivery is stored as a `duplicate` instead."""
    dedup = webhook_id if verdict is WebhookVerdict.ACCEPTED else None
    row = _row(received, verdict, detail, webhook_id, dedup, team_id, job_id, provider_job_id)
    if dedup is not None:
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return to_record(row)
        except IntegrityError:
            row = _row(
                received,
                WebhookVerdict.DUPLICATE,
                "its webhook id was received before",
                webhook_id,
                None,
                team_id,
                job_id,
                provider_job_id,
            )
    with translate_database_errors("storing a webhook event"):
        session.add(row)
        session.flush()
    return to_record(row)


def first_of(session: Session, provider: str, webhook_id: str) -> WebhookEventRecord | None:
    """The verified event that holds this webhook id."""
    row = session.scalar(select(E).where(E.provider == provider, E.dedup_key == webhook_id))
    return None if row is None else to_record(row)


def mark_applied(
    session: Session,
    event_id: int,
    *,
    job_id: int,
    changes: dict[str, JsonValue],
    at: datetime,
) -> bool:
    """Record what the event changed; False if it was applied already (a retry raced it)."""
    done = session.execute(
        update(E)
        .where(E.id == event_id, E.applied_at.is_(None))
        .values(job_id=job_id, changes=changes, applied_at=at)
        .returning(E.id)
        .execution_options(synchronize_session=False)
    ).first()
    return done is not None


def events_of_job(session: Session, job_id: int) -> list[WebhookEventRecord]:
    rows = session.scalars(select(E).where(E.job_id == job_id).order_by(E.id))
    return [to_record(row) for row in rows]


def events_of_provider(session: Session, provider: str) -> list[WebhookEventRecord]:
    rows = session.scalars(select(E).where(E.provider == provider).order_by(E.id))
    return [to_record(row) for row in rows]


def _row(
    received: Received,
    verdict: WebhookVerdict,
    detail: str,
    webhook_id: str | None,
    dedup: str | None,
    team_id: int | None,
    job_id: int | None,
    provider_job_id: str | None,
) -> WebhookEventRow:
    body = received.body
    return E(
        provider=received.provider[:64],
        verdict=verdict.value,
        webhook_id=None if webhook_id is None else webhook_id[:256],
        dedup_key=dedup,
        team_id=team_id,
        job_id=job_id,
        provider_job_id=None if provider_job_id is None else provider_job_id[:256],
        detail=visible(detail[:4000]),
        headers=_kept_headers(received.headers),
        payload=body[:MAX_STORED_PAYLOAD],
        payload_truncated=len(body) > MAX_STORED_PAYLOAD,
        payload_sha256=hashlib.sha256(body).hexdigest(),
        received_at=received.at,
    )


def _kept_headers(headers: Mapping[str, str]) -> dict[str, JsonValue]:
    lower = {k.lower(): v for k, v in headers.items()}
    return {
        name: visible(lower[name][:MAX_HEADER_CHARS], keep_newlines=False)
        for name in KEPT_HEADERS
        if name in lower
    }


def to_record(row: WebhookEventRow) -> WebhookEventRecord:
    return WebhookEventRecord(
        id=row.id,
        provider=row.provider,
        verdict=WebhookVerdict(row.verdict),
        webhook_id=row.webhook_id,
        team_id=row.team_id,
        job_id=row.job_id,
        provider_job_id=row.provider_job_id,
        detail=row.detail,
        payload=row.payload,
        payload_truncated=row.payload_truncated,
        changes=row.changes,
        received_at=row.received_at,
        applied_at=row.applied_at,
    )


__all__ = [
    "MAX_STORED_PAYLOAD",
    "Received",
    "events_of_job",
    "events_of_provider",
    "first_of",
    "mark_applied",
    "store_event",
    "to_record",
]

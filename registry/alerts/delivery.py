"""The notification log's side of delivery: claim what is due (one deliverer per row, by a
compare-and-set on its status), and record what the receiver said.

Retries follow Standard Webhooks' schedule (5 s, 5 min, 30 min, 2 h, 5 h), honouring a
longer Retry-After; a 4xx other than 408/429 is never retried; a 410 disables the channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from registry.alerts.channels import disable_channel, open_target
from registry.alerts.domain import ChannelKind, ChannelStatus, NotificationStatus
from registry.alerts.tables import ChannelRow, NotificationRow
from registry.errors import RegistryError
from registry.keys.crypto import MasterKeyring

N = NotificationRow
RETRY_DELAYS_SECONDS = (5, 300, 1800, 7200, 18_000)
MAX_ATTEMPTS = len(RETRY_DELAYS_SECONDS) + 1
MAX_RETRY_AFTER_SECONDS = 3600
# A claimed row is the claimer's for this long; a deliverer that died frees it after.
LEASE_SECONDS = 120


@dataclass(frozen=True)
class Claimed:
    """A notification this deliverer owns until `lease_until`, with what sending needs."""

    id: int
    message_id: str
    event_type: str
    payload: dict[str, Any]
    attempts: int
    channel_id: int
    channel: str
    kind: ChannelKind
    shown_url: str
    url: str = field(repr=False)
    secret: SecretStr = field(repr=False)


@dataclass(frozen=True)
class Outcome:
    """What the receiver said, as the registry records it (adapters' verdict by name)."""

    verdict: str  # delivered | retry | refused | gone
    status_code: int | None
    retry_after: float | None
    detail: str


def _due(now: datetime) -> Any:
    return or_(
        and_(N.status == NotificationStatus.PENDING.value, N.next_attempt_at <= now),
        and_(N.status == NotificationStatus.SENDING.value, N.lease_until < now),
    )


def claim_due(
    session: Session,
    ring: MasterKeyring,
    now: datetime,
    *,
    limit: int = 50,
    only: int | None = None,
) -> list[Claimed]:
    """Claim up to `limit` due notifications of active channels, oldest first (or just
    notification `only`)."""
    query = (
        select(N.id, ChannelRow)
        .join(ChannelRow, ChannelRow.id == N.channel_id)
        .where(_due(now), ChannelRow.status == ChannelStatus.ACTIVE.value)
    )
    if only is not None:
        query = query.where(N.id == only)
    candidates = session.execute(query.order_by(N.id).limit(limit)).all()
    claimed = []
    for notification_id, channel in candidates:
        won = session.execute(
            update(N)
            .where(N.id == notification_id, _due(now))
            .values(
                status=NotificationStatus.SENDING.value,
                lease_until=now + timedelta(seconds=LEASE_SECONDS),
                attempts=N.attempts + 1,
            )
            .returning(N.message_id, N.event_type, N.payload, N.attempts)
            .execution_options(synchronize_session=False)
        ).first()
        if won is None:
            continue  # another deliverer claimed it first
        claimed.append(_claimed(session, notification_id, won, channel, ring, now))
    return [item for item in claimed if item is not None]


def _claimed(
    session: Session,
    notification_id: int,
    won: Any,
    channel: ChannelRow,
    ring: MasterKeyring,
    now: datetime,
) -> Claimed | None:
    try:
        url, secret = open_target(channel, ring)
    except RegistryError as exc:
        # A secret that cannot be opened will not open on a retry either.
        _finish(session, notification_id, NotificationStatus.FAILED, None, str(exc), now)
        return None
    return Claimed(
        id=notification_id,
        message_id=won.message_id,
        event_type=won.event_type,
        payload=dict(won.payload),
        attempts=won.attempts,
        channel_id=channel.id,
        channel=channel.name,
        kind=ChannelKind(channel.kind),
        shown_url=channel.url,
        url=url,
        secret=secret,
    )


def record(
    session: Session, claimed: Claimed, outcome: Outcome, now: datetime, *, retry: bool = True
) -> str:
    """Record one attempt; returns the notification's status after it (`retry` False: a
    failed attempt is final, as for a channel test)."""
    if outcome.verdict == "delivered":
        status = NotificationStatus.DELIVERED
        _finish(session, claimed.id, status, outcome.status_code, None, now, delivered=True)
    elif outcome.verdict == "gone":
        reason = (
            f"{outcome.detail} at {now.isoformat()}: the receiver asked to stop; fix it, then "
            f"`modelops channels enable {claimed.channel}`"
        )
        status = NotificationStatus.FAILED
        _finish(session, claimed.id, status, outcome.status_code, outcome.detail, now)
        disable_channel(session, claimed.channel_id, reason, now)
    elif outcome.verdict == "retry" and retry and claimed.attempts < MAX_ATTEMPTS:
        status = NotificationStatus.PENDING
        delay = max(
            RETRY_DELAYS_SECONDS[claimed.attempts - 1],
            min(outcome.retry_after or 0, MAX_RETRY_AFTER_SECONDS),
        )
        _finish(session, claimed.id, status, outcome.status_code, outcome.detail, now)
        session.execute(
            update(N)
            .where(N.id == claimed.id)
            .values(next_attempt_at=now + timedelta(seconds=delay))
            .execution_options(synchronize_session=False)
        )
    else:
        status = NotificationStatus.FAILED
        why = outcome.detail
        if outcome.verdict == "retry" and retry:
            why = f"gave up after {claimed.attempts} attempts; the last: {why}"
        elif outcome.verdict == "retry":
            why = f"not retried (a test): {why}"
        else:
            why = f"not retried (the receiver refused it): {why}"
        _finish(session, claimed.id, status, outcome.status_code, why, now)
    return status.value


def next_due(session: Session) -> datetime | None:
    """When the earliest waiting notification of an active channel is due."""
    return session.scalar(
        select(N.next_attempt_at)
        .join(ChannelRow, ChannelRow.id == N.channel_id)
        .where(N.status == NotificationStatus.PENDING.value)
        .where(ChannelRow.status == ChannelStatus.ACTIVE.value)
        .order_by(N.next_attempt_at)
        .limit(1)
    )


def _finish(
    session: Session,
    notification_id: int,
    status: NotificationStatus,
    status_code: int | None,
    error: str | None,
    now: datetime,
    *,
    delivered: bool = False,
) -> None:
    values: dict[str, Any] = {
        "status": status.value,
        "lease_until": None,
        "last_status_code": status_code,
        "last_error": error,
    }
    if delivered:
        values["delivered_at"] = now
    session.execute(
        update(N)
        .where(N.id == notification_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )

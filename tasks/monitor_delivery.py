"""Delivering the notification log: claim what is due, post it (adapters.notify), record
what the receiver said. A retry due within IN_RUN_RETRY_SECONDS waits in this run; later
ones are left for the next run, which finds them due. Plain functions (the Prefect tasks
are in `tasks.monitor`), so `channels test` sends without importing Prefect."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import httpx
from pydantic import Field
from sqlalchemy.orm import Session, sessionmaker

from adapters.notify import DELIVERY_TIMEOUT_SECONDS, Message, SendResult, Target, Verdict, send
from registry.alerts.channels import ChannelRepository
from registry.alerts.delivery import Claimed, Outcome, claim_due, next_due, record
from registry.alerts.domain import ChannelStatus
from registry.alerts.sending import plan_channel_test
from registry.domain import Frozen, Team
from registry.errors import InvalidInputError
from registry.keys.crypto import MasterKeyring
from registry.keys.errors import MasterKeyMissingError
from registry.orm import utcnow

IN_RUN_RETRY_SECONDS = 30
MAX_PASSES = 20  # a bound on one run's work; whatever is left is due at the next run
Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


class DeliveryReport(Frozen):
    attempts: int = 0
    delivered: int = 0
    waiting: int = Field(default=0, description="Attempts that failed and will be retried.")
    failed: int = 0
    disabled_channels: list[str] = Field(default_factory=list)


def deliver_due(
    sessions: sessionmaker[Session],
    ring: MasterKeyring | None,
    *,
    clock: Clock = utcnow,
    sleep: Sleep = time.sleep,
    client: httpx.Client | None = None,
    limit: int = 50,
) -> DeliveryReport:
    """Send every due notification (all teams), retrying short delays in place."""
    counts: Counter[str] = Counter()
    disabled: list[str] = []
    with client or httpx.Client(timeout=DELIVERY_TIMEOUT_SECONDS) as http:
        for _ in range(MAX_PASSES):
            with sessions.begin() as session:
                batch = _claim(session, ring, clock(), limit)
            for claimed in batch:
                status, gone = _deliver(sessions, http, claimed, clock)
                counts[status] += 1
                disabled += [claimed.channel] if gone else []
            if len(batch) == limit:
                continue
            with sessions.begin() as session:
                due = next_due(session)
            wait = None if due is None else (due - clock()).total_seconds()
            if wait is None or wait > IN_RUN_RETRY_SECONDS:
                break
            sleep(max(wait, 0.0))
    return DeliveryReport(
        attempts=sum(counts.values()),
        delivered=counts["delivered"],
        waiting=counts["pending"],
        failed=counts["failed"],
        disabled_channels=sorted(set(disabled)),
    )


class ChannelTest(Frozen):
    channel: str
    message_id: str
    status: str
    status_code: int | None
    detail: str


def test_channel(
    sessions: sessionmaker[Session],
    ring: MasterKeyring,
    team: Team,
    name: str,
    *,
    client: httpx.Client | None = None,
) -> ChannelTest:
    """Send a `channel.test` notification to one channel now: one attempt, no retries."""
    with sessions.begin() as session:
        channel = ChannelRepository(session, team).get(name)
        if channel.status is not ChannelStatus.ACTIVE:
            raise InvalidInputError(
                f"channel {name!r} is disabled ({channel.disabled_reason}); "
                f"`modelops channels enable {name}` first",
                field="channel",
            )
        notification_id = plan_channel_test(session, team, name, utcnow())
        [claimed] = claim_due(session, ring, utcnow(), only=notification_id)
    with client or httpx.Client(timeout=DELIVERY_TIMEOUT_SECONDS) as http:
        result = _send(http, claimed)
    with sessions.begin() as session:
        status = record(session, claimed, _outcome(result), utcnow(), retry=False)
    return ChannelTest(
        channel=claimed.channel,
        message_id=claimed.message_id,
        status=status,
        status_code=result.status_code,
        detail=result.detail,
    )


def _deliver(
    sessions: sessionmaker[Session], http: httpx.Client, claimed: Claimed, clock: Clock
) -> tuple[str, bool]:
    result = _send(http, claimed)
    with sessions.begin() as session:
        status = record(session, claimed, _outcome(result), clock())
    return status, result.verdict is Verdict.GONE


def _send(http: httpx.Client, claimed: Claimed) -> SendResult:
    target = Target(claimed.kind.value, claimed.url, claimed.secret, claimed.shown_url)
    return send(http, target, Message(claimed.message_id, claimed.event_type, claimed.payload))


def _outcome(result: SendResult) -> Outcome:
    return Outcome(result.verdict.value, result.status_code, result.retry_after, result.detail)


def _claim(
    session: Session, ring: MasterKeyring | None, now: datetime, limit: int
) -> list[Claimed]:
    """Channel secrets need the master key; without one nothing is sent (and nothing is
    marked failed: it all goes once the key is configured)."""
    if ring is not None:
        return claim_due(session, ring, now, limit=limit)
    due = next_due(session)
    if due is not None and due <= now:
        raise MasterKeyMissingError()
    return []

"""Delivering the notification log: claim what is due, post it (adapters.notify), record
what the receiver said. A retry due within IN_RUN_RETRY_SECONDS waits in this run; later
ones are left for the next run, which finds them due."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import httpx
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import Field
from sqlalchemy.orm import Session, sessionmaker

from adapters.notify import DELIVERY_TIMEOUT_SECONDS, Message, Target, send
from registry.alerts.delivery import Claimed, Outcome, claim_due, next_due, record
from registry.alerts.sending import plan_event_notices
from registry.domain import Frozen
from registry.keys.crypto import MasterKeyring
from registry.keys.errors import MasterKeyMissingError
from registry.orm import utcnow
from tasks.context import database, keyring, unit_of_work

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


def _deliver(
    sessions: sessionmaker[Session], http: httpx.Client, claimed: Claimed, clock: Clock
) -> tuple[str, bool]:
    target = Target(claimed.kind.value, claimed.url, claimed.secret, claimed.shown_url)
    result = send(http, target, Message(claimed.message_id, claimed.event_type, claimed.payload))
    outcome = Outcome(result.verdict.value, result.status_code, result.retry_after, result.detail)
    with sessions.begin() as session:
        status = record(session, claimed, outcome, clock())
    return status, result.verdict.value == "gone"


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


@task(cache_policy=NO_CACHE)
def deliver_notifications() -> DeliveryReport:
    """Send what the notification log has due (retries inside; the task itself never
    retries, so nothing is sent twice by Prefect)."""
    return deliver_due(database().sessions, keyring())


@task(cache_policy=NO_CACHE)
def notify_event(event_id: int) -> DeliveryReport:
    """Plan an event's notices now and send them, instead of waiting for the monitor."""
    with unit_of_work() as (session, team):
        plan_event_notices(session, team, event_id, utcnow())
    return deliver_due(database().sessions, keyring())

"""Cooldown arithmetic shared by keys and models: backoff policy and monotonic deadlines.

Deadlines only move later: every write goes through `later_of`, evaluated by the database
on the locked row, so a process with a shorter Retry-After can never shorten another's.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, literal, update
from sqlalchemy.orm import Session

from registry.keys.tables import ModelCooldownRow
from registry.orm import UTCDateTime
from registry.upsert import conflict_insert


@dataclass(frozen=True)
class CooldownPolicy:
    """How long to cool when the provider gives no Retry-After: exponential with jitter.

    delay(n) = d * (1 - jitter + jitter * u), d = min(cap, base * 2**(n-1)), u uniform in [0, 1):
    with the default jitter of 0.5 that is "equal jitter" (half fixed, half random), which
    spreads retries from many processes without ever collapsing to zero. A key whose calls
    time out `timeouts_before_cooldown` times in a row cools the same way, from
    `timeout_cooldown_seconds`: a hung key stops costing every call its attempt timeout.
    """

    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    jitter: float = 0.5
    # Providers sometimes announce a day-long quota reset; past this we cool no longer.
    max_retry_after_seconds: float = 86_400.0
    timeouts_before_cooldown: int = 3
    timeout_cooldown_seconds: float = 60.0
    uniform: Callable[[], float] = field(default=random.random, repr=False)

    def __post_init__(self) -> None:
        if self.timeouts_before_cooldown < 1:
            raise ValueError(
                f"timeouts_before_cooldown must be at least 1, got {self.timeouts_before_cooldown}"
            )

    def delay(self, retry_after: float | None, consecutive_failures: int) -> float:
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_retry_after_seconds)
        return self._jittered(self.base_seconds, consecutive_failures - 1)

    def timeout_delay(self, consecutive_timeouts: int) -> float | None:
        """Seconds to cool a key after this many timeouts in a row; None below the threshold."""
        if consecutive_timeouts < self.timeouts_before_cooldown:
            return None
        exponent = consecutive_timeouts - self.timeouts_before_cooldown
        return self._jittered(self.timeout_cooldown_seconds, exponent)

    def _jittered(self, base: float, exponent: int) -> float:
        ceiling = min(self.cap_seconds, base * 2.0 ** min(max(0, exponent), 62))
        return ceiling * (1.0 - self.jitter + self.jitter * self.uniform())


def later_of(column: Any, candidate: datetime) -> ColumnElement[Any]:
    """SQL for max(column, candidate), treating NULL as "no deadline yet"."""
    keep = column.is_not(None) & (column >= candidate)
    return case((keep, column), else_=literal(candidate, UTCDateTime()))


def cool_model(
    session: Session,
    scope: tuple[int, int, str],
    *,
    now: datetime,
    reason: str,
    delay: Callable[[int], float],
) -> ModelCooldownRow:
    """Upsert the (team, provider, model) cooldown; `delay(consecutive_failures)` in seconds.

    The upsert takes the row lock, so the failure count and the max-deadline update that
    follows see every concurrent report in order.
    """
    row_id, failures = _count_failure(session, scope, now=now, reason=reason)
    until = now + timedelta(seconds=delay(failures))
    M = ModelCooldownRow
    moved = (
        update(M)
        .where(M.id == row_id)
        .values(cooldown_until=later_of(M.cooldown_until, until))
        .returning(M)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    return session.scalars(moved).one()


def _count_failure(
    session: Session, scope: tuple[int, int, str], *, now: datetime, reason: str
) -> tuple[int, int]:
    """Insert the cooldown row (deadline `now`: not cooling yet) or bump its failure count;
    returns (row id, consecutive failures). Both dialects spell the upsert alike."""
    team_id, provider_id, model = scope
    M = ModelCooldownRow
    stmt = (
        conflict_insert(session, M)
        .values(
            team_id=team_id,
            provider_id=provider_id,
            provider_model_id=model,
            cooldown_until=now,
            reason=reason,
            consecutive_failures=1,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=["team_id", "provider_id", "provider_model_id"],
            set_={
                "consecutive_failures": M.consecutive_failures + 1,
                "reason": reason,
                "updated_at": now,
            },
        )
        .returning(M.id, M.consecutive_failures)
    )
    row_id, failures = session.execute(stmt).one()
    return int(row_id), int(failures)

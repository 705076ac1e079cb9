"""Key usage counted in memory and written in batches: requests, successes, latency, and the
failure streaks a success ends (see `KeyPool.record_success`, which does the same per call).

A success ends a streak only if no failure was written after it: the reset compares the
success's time with the row's `last_error_at`, so a batch written late never erases a
failure another process recorded in between (hosts keep their clocks in sync, as for
cooldown deadlines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, case, or_, update
from sqlalchemy.orm import Session

from registry.errors import translate_database_errors
from registry.keys.domain import KeyStatus
from registry.keys.tables import ModelCooldownRow, ProviderKeyRow
from registry.orm import UTCDateTime

# Core tables: a batch is one executemany, which ORM-enabled UPDATEs do not allow with WHERE.
KEYS = cast(Table, ProviderKeyRow.__table__)
MODELS = cast(Table, ModelCooldownRow.__table__)
K, M = KEYS.c, MODELS.c


@dataclass
class KeyUsage:
    """What one process saw of one key since its usage was last written."""

    team_id: int
    provider_id: int
    key_id: int
    requests: int = 0
    successes: int = 0
    latency_ms: float = 0.0
    last_used_at: datetime | None = None
    last_success_at: datetime | None = None
    model_successes: dict[str, datetime] = field(default_factory=dict)  # model: last success

    def used(self, now: datetime) -> None:
        self.requests += 1
        self.last_used_at = _later(self.last_used_at, now)

    def succeeded(self, now: datetime, latency_ms: float, model: str | None) -> None:
        self.successes += 1
        self.latency_ms += latency_ms
        self.last_success_at = _later(self.last_success_at, now)
        if model is not None:
            self.model_successes[model] = _later(self.model_successes.get(model), now)

    def merge(self, other: KeyUsage) -> None:
        """Fold in usage taken earlier whose write failed, so it is written next time."""
        self.requests += other.requests
        self.successes += other.successes
        self.latency_ms += other.latency_ms
        self.last_used_at = _later_or_none(self.last_used_at, other.last_used_at)
        self.last_success_at = _later_or_none(self.last_success_at, other.last_success_at)
        for model, at in other.model_successes.items():
            self.model_successes[model] = _later(self.model_successes.get(model), at)


def write_usage(session: Session, usages: Sequence[KeyUsage]) -> None:
    """Add the batch to the keys' counters: one executemany UPDATE for the keys and one for
    the models whose failure streaks the successes end."""
    if not usages:
        return
    rows = [_key_params(usage) for usage in usages]
    models = [
        {"b_team": u.team_id, "b_provider": u.provider_id, "b_model": model, "b_at": at}
        for u in usages
        for model, at in u.model_successes.items()
    ]
    with translate_database_errors("recording key usage"):
        connection = session.connection()
        connection.execute(_KEYS_UPDATE, rows)
        if models:
            connection.execute(_MODELS_UPDATE, models)


def _key_params(usage: KeyUsage) -> dict[str, Any]:
    return {
        "b_id": usage.key_id,
        "b_team": usage.team_id,
        "b_requests": usage.requests,
        "b_successes": usage.successes,
        "b_latency": usage.latency_ms,
        "b_used": usage.last_used_at,
        "b_succeeded": usage.last_success_at,
    }


def _latest(column: Any, moment: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQL for max(column, moment) where either may be NULL (NULL = nothing to record)."""
    return case(
        (moment.is_(None), column),
        (column.is_(None) | (column < moment), moment),
        else_=column,
    )


def _build_keys_update() -> Any:
    used = bindparam("b_used", type_=UTCDateTime())
    succeeded = bindparam("b_succeeded", type_=UTCDateTime())
    # The success ends the streak unless a failure was recorded after it.
    ends_streak = and_(
        succeeded.is_not(None), or_(K.last_error_at.is_(None), K.last_error_at <= succeeded)
    )
    # As `acquire` does: a key used after its cooldown ran out reads as active again.
    cooled_off = and_(
        K.status == KeyStatus.COOLING.value, used.is_not(None), K.cooldown_until <= used
    )
    return (
        update(KEYS)
        .where(K.id == bindparam("b_id"), K.team_id == bindparam("b_team"))
        .values(
            request_count=K.request_count + bindparam("b_requests"),
            success_count=K.success_count + bindparam("b_successes"),
            latency_ms_total=K.latency_ms_total + bindparam("b_latency"),
            last_used_at=_latest(K.last_used_at, used),
            last_success_at=_latest(K.last_success_at, succeeded),
            error_count=case((ends_streak, 0), else_=K.error_count),
            consecutive_failures=case((ends_streak, 0), else_=K.consecutive_failures),
            status=case((cooled_off, KeyStatus.ACTIVE.value), else_=K.status),
        )
    )


def _build_models_update() -> Any:
    # A model's failure count is bumped (and updated_at stamped) by every failure.
    return (
        update(MODELS)
        .where(
            M.team_id == bindparam("b_team"),
            M.provider_id == bindparam("b_provider"),
            M.provider_model_id == bindparam("b_model"),
            M.updated_at <= bindparam("b_at", type_=UTCDateTime()),
        )
        .values(consecutive_failures=0)
    )


_KEYS_UPDATE = _build_keys_update()
_MODELS_UPDATE = _build_models_update()


def _later(moment: datetime | None, other: datetime) -> datetime:
    return other if moment is None or other > moment else moment


def _later_or_none(moment: datetime | None, other: datetime | None) -> datetime | None:
    return moment if other is None else _later(moment, other)

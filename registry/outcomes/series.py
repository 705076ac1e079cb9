"""An endpoint's traffic over time: per version and per step, summed from rollup rows in SQL.

For charts. The window is bounded (at most `MAX_POINTS` steps) and is read from the
per-minute rollups grouped into steps by the database, so the cost of a read depends on the
window and the versions, never on how many outcomes the endpoint has served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func, select
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.errors import InvalidInputError, translate_database_errors
from registry.outcomes.histogram import LogHistogram
from registry.outcomes.rollups import minute_of
from registry.outcomes.tables import HistogramMetric, OutcomeRollupRow, RollupHistogramRow

MAX_POINTS = 400  # steps in one series; a wider window needs a longer step
MAX_STEP_MINUTES = 24 * 60


@dataclass(frozen=True)
class VersionSeries:
    """One version's values at each step of the window (zero, or None, where it served none)."""

    requests: tuple[int, ...]
    errors: tuple[int, ...]
    p95_ms: tuple[float | None, ...]
    cost_micro_usd: tuple[int, ...]

    @property
    def error_rate(self) -> tuple[float | None, ...]:
        return tuple(e / n if n else None for n, e in zip(self.requests, self.errors, strict=True))


@dataclass(frozen=True)
class EndpointSeries:
    """`starts[i]` opens step i; every version's tuples are aligned with it."""

    starts: tuple[datetime, ...]
    step: timedelta
    versions: Mapping[int, VersionSeries]  # model version id → its series


def endpoint_series(
    session: Session,
    team: Team,
    endpoint_id: int,
    until: datetime,
    *,
    points: int,
    step_minutes: int,
) -> EndpointSeries:
    """`points` steps of `step_minutes` each, the last one ending at `until` (rounded up to
    a whole step); versions that served nothing in the window are absent."""
    start, end, step = _window(until, points, step_minutes)
    seconds = step_minutes * 60
    R, H = OutcomeRollupRow, RollupHistogramRow
    with translate_database_errors("reading outcome rollups"):
        bucket = _step_of(session, R.minute, seconds).label("step")
        sums = session.execute(
            select(
                R.model_version_id,
                bucket,
                func.sum(R.requests),
                func.sum(R.successes),
                func.sum(R.cost_micro_usd),
            )
            .where(*_scope(R, team, endpoint_id, start, end))
            .group_by(R.model_version_id, bucket)
        ).all()
        hbucket = _step_of(session, H.minute, seconds).label("step")
        counts = session.execute(
            select(H.model_version_id, hbucket, H.bucket, func.sum(H.count))
            .where(*_scope(H, team, endpoint_id, start, end))
            .where(H.metric == HistogramMetric.LATENCY.value)
            .group_by(H.model_version_id, hbucket, H.bucket)
        ).all()
    origin = int(start.timestamp())
    histograms: dict[tuple[int, int], dict[int, int]] = {}
    for version, at, log_bucket, count in counts:
        index = (int(at) - origin) // seconds
        histograms.setdefault((version, index), {})[int(log_bucket)] = int(count)
    grid: dict[int, dict[str, list[Any]]] = {}
    for version, at, requests, successes, cost in sums:
        index = (int(at) - origin) // seconds
        columns = grid.setdefault(version, _empty(points))
        columns["requests"][index] = int(requests)
        columns["errors"][index] = int(requests) - int(successes)
        columns["cost"][index] = int(cost)
        p95 = LogHistogram(histograms.get((version, index), {})).quantile(0.95)
        columns["p95"][index] = None if p95 is None else round(p95.estimate_ms, 3)
    return EndpointSeries(
        starts=tuple(start + i * step for i in range(points)),
        step=step,
        versions={
            version: VersionSeries(
                requests=tuple(c["requests"]),
                errors=tuple(c["errors"]),
                p95_ms=tuple(c["p95"]),
                cost_micro_usd=tuple(c["cost"]),
            )
            for version, c in sorted(grid.items())
        },
    )


def _window(
    until: datetime, points: int, step_minutes: int
) -> tuple[datetime, datetime, timedelta]:
    if not isinstance(until, datetime) or until.tzinfo is None:
        raise InvalidInputError("until must be a timezone-aware datetime", field="until")
    if not 1 <= points <= MAX_POINTS:
        raise InvalidInputError(
            f"points must be in [1, {MAX_POINTS}], got {points}", field="points"
        )
    if not 1 <= step_minutes <= MAX_STEP_MINUTES:
        raise InvalidInputError(
            f"step_minutes must be in [1, {MAX_STEP_MINUTES}], got {step_minutes}",
            field="step_minutes",
        )
    step = timedelta(minutes=step_minutes)
    # Steps are aligned on the epoch, so the same step always holds the same minutes; the
    # minute `until` falls in counts (the current minute, while traffic arrives).
    after = minute_of(until.astimezone(UTC)) + timedelta(minutes=1)
    offset = (after - datetime(1970, 1, 1, tzinfo=UTC)) % step
    end = after + (step - offset if offset else timedelta(0))
    return end - points * step, end, step


def _scope(table: Any, team: Team, endpoint_id: int, start: datetime, end: datetime) -> list[Any]:
    return [
        table.team_id == team.id,
        table.endpoint_id == endpoint_id,
        table.minute >= start,
        table.minute < end,
    ]


def _step_of(session: Session, minute: Any, seconds: int) -> ColumnElement[Any]:
    """The epoch second that opens a minute's step, computed by the database."""
    if session.get_bind().dialect.name == "sqlite":
        epoch: ColumnElement[Any] = cast(func.strftime("%s", minute), Integer)
        return (epoch // seconds) * seconds
    epoch = cast(func.floor(func.extract("epoch", minute) / seconds), Integer)
    return epoch * seconds


def _empty(points: int) -> dict[str, list[Any]]:
    return {
        "requests": [0] * points,
        "errors": [0] * points,
        "cost": [0] * points,
        "p95": [None] * points,
    }

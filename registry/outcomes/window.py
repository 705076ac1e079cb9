"""A window's sufficient statistics per version, summed from rollup rows in SQL.

The window is whole minutes: an outcome counts when its arrival minute is in
[minute(since), minute(until)). Nothing here reads raw outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from analysis import ArmStats, MeanStats, ProportionStats
from registry.domain import Team
from registry.errors import InvalidInputError, translate_database_errors
from registry.outcomes.histogram import LogHistogram
from registry.outcomes.rollups import minute_of
from registry.outcomes.tables import (
    HistogramMetric,
    OutcomeRollupRow,
    RollupErrorRow,
    RollupHistogramRow,
    RollupMetricRow,
)

R = OutcomeRollupRow
EMPTY = MeanStats(0, 0.0, 0.0)


@dataclass(frozen=True)
class WindowStats:
    """What one version served in the window. `errors` counts failed requests out of all
    (its n is the sample size); durations are in milliseconds."""

    requests: int
    errors: ProportionStats
    errors_by_class: Mapping[str, int]
    latency_ms: MeanStats
    latency_histogram: LogHistogram
    ttft_ms: MeanStats
    ttft_histogram: LogHistogram
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_micro_usd: int
    cost_per_request: MeanStats  # micro-USD per request, with its spread (A/B cost metrics)
    quality: MeanStats
    metrics: Mapping[str, MeanStats] = field(default_factory=dict)

    def arm_stats(self) -> ArmStats:
        """The arm as `analysis.judge_canary` takes it."""
        return ArmStats(
            errors=self.errors,
            latency_ms=self.latency_ms,
            quality=self.quality if self.quality.n else None,
        )


def window_stats(
    session: Session, team: Team, endpoint_id: int, since: datetime, until: datetime
) -> dict[int, WindowStats]:
    """{model version id: its statistics} for the endpoint's versions that served in the
    window; versions without traffic are absent."""
    scope = _Scope(team.id, endpoint_id, *_window(since, until))
    with translate_database_errors("reading outcome rollups"):
        sums = session.execute(scope.where(_sums_query(), R)).all()
        histograms = _histograms(session, scope)
        errors = _errors(session, scope)
        metrics = _metrics(session, scope)
    empty = LogHistogram()
    stats = {}
    for row in sums:
        version, n = row.model_version_id, int(row.requests)
        stats[version] = WindowStats(
            requests=n,
            errors=ProportionStats(n=n, successes=n - int(row.successes)),
            errors_by_class=errors.get(version, {}),
            latency_ms=_mean(n, row.latency_sum_us, row.latency_sum_sq_us2, 1e3),
            latency_histogram=histograms.get((version, HistogramMetric.LATENCY), empty),
            ttft_ms=_mean(row.ttft_n, row.ttft_sum_us, row.ttft_sum_sq_us2, 1e3),
            ttft_histogram=histograms.get((version, HistogramMetric.TTFT), empty),
            input_tokens=int(row.input_tokens),
            output_tokens=int(row.output_tokens),
            cached_input_tokens=int(row.cached_input_tokens),
            cost_micro_usd=int(row.cost_micro_usd),
            cost_per_request=_mean(n, row.cost_micro_usd, row.cost_sum_sq_micro_usd2, 1.0),
            quality=_mean(row.quality_n, row.quality_sum, row.quality_sum_sq, 1.0),
            metrics=metrics.get(version, {}),
        )
    return stats


def _window(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    for name, value in (("since", since), ("until", until)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InvalidInputError(f"{name} must be a timezone-aware datetime", field=name)
    start, end = minute_of(since), minute_of(until)
    if start >= end:
        raise InvalidInputError(
            f"the window [{since.isoformat()}, {until.isoformat()}) holds no whole minute; "
            "until must be at least a minute after since",
            field="until",
        )
    return start, end


class _Scope(NamedTuple):
    team_id: int
    endpoint_id: int
    start: datetime
    end: datetime

    def where(self, query: Select[Any], table: Any) -> Select[Any]:
        return query.where(
            table.team_id == self.team_id,
            table.endpoint_id == self.endpoint_id,
            table.minute >= self.start,
            table.minute < self.end,
        ).group_by(table.model_version_id)


def _sums_query() -> Select[Any]:
    skip = {"team_id", "endpoint_id", "minute", "model_version_id"}
    summed = [func.sum(c).label(c.name) for c in R.__table__.c if c.name not in skip]
    return select(R.model_version_id, *summed)


def _histograms(session: Session, scope: _Scope) -> dict[tuple[int, str], LogHistogram]:
    H = RollupHistogramRow
    query = select(H.model_version_id, H.metric, H.bucket, func.sum(H.count))
    counts: dict[tuple[int, str], dict[int, int]] = {}
    for version, metric, bucket, count in session.execute(
        scope.where(query, H).group_by(H.metric, H.bucket)
    ):
        counts.setdefault((version, metric), {})[bucket] = int(count)
    return {key: LogHistogram(value) for key, value in counts.items()}


def _errors(session: Session, scope: _Scope) -> dict[int, dict[str, int]]:
    E = RollupErrorRow
    query = select(E.model_version_id, E.error_class, func.sum(E.count))
    found: dict[int, dict[str, int]] = {}
    for version, error, count in session.execute(scope.where(query, E).group_by(E.error_class)):
        found.setdefault(version, {})[error] = int(count)
    return found


def _metrics(session: Session, scope: _Scope) -> dict[int, dict[str, MeanStats]]:
    M = RollupMetricRow
    query = select(M.model_version_id, M.name, func.sum(M.n), func.sum(M.sum), func.sum(M.sum_sq))
    found: dict[int, dict[str, MeanStats]] = {}
    for version, name, n, total, squares in session.execute(scope.where(query, M).group_by(M.name)):
        found.setdefault(version, {})[name] = _mean(n, total, squares, 1.0)
    return found


def _mean(n: Any, total: Any, squares: Any, scale: float) -> MeanStats:
    """MeanStats in the caller's unit: sums are divided by `scale`, squares by its square."""
    if not n:
        return EMPTY
    return MeanStats(n=int(n), sum=float(total) / scale, sum_sq=float(squares) / (scale * scale))

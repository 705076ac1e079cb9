"""Folding outcomes into per-minute rollups: a delta built in memory, upserted as sums.

Every counter is added (`col = col + excluded.col`), so applying the delta of a set of
outcomes is the same as having folded them one by one, in any order. Sums that could
outgrow 64 bits or carry fractions (squares, scores) are exact decimals on PostgreSQL:
integers as they are, scores as the decimal of their shortest repr (`exact`).
Rows are upserted in key order, so concurrent writers lock them in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from registry.outcomes.codec import Row
from registry.outcomes.histogram import bucket_of
from registry.outcomes.tables import (
    HistogramMetric,
    OutcomeRollupRow,
    RollupErrorRow,
    RollupHistogramRow,
    RollupMetricRow,
)

RollupKey = tuple[int, int, datetime, int]  # team, endpoint, minute, version
KEY_COLUMNS = ("team_id", "endpoint_id", "minute", "model_version_id")
SUM_COLUMNS = (
    "requests",
    "successes",
    "latency_sum_us",
    "latency_sum_sq_us2",
    "ttft_n",
    "ttft_sum_us",
    "ttft_sum_sq_us2",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cost_micro_usd",
    "quality_n",
    "quality_sum",
    "quality_sum_sq",
)
_QUALITY_N = SUM_COLUMNS.index("quality_n")
# Scores are at most 1e12 and doubles reach down to 1e-324: 1000 digits hold any sum exactly.
_EXACT = Context(prec=1000)
_ZERO = Decimal(0)
_LATENCY = HistogramMetric.LATENCY.value
_TTFT = HistogramMetric.TTFT.value
_CHUNK = 500  # rows per upsert statement, well under both backends' parameter limits


def exact(score: float) -> Decimal:
    """A score as the exact decimal its shortest repr spells (PostgreSQL's float8 text)."""
    return Decimal(repr(score))


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


class RollupDelta:
    """What a set of outcomes (or feedback) adds to the rollup tables."""

    def __init__(self) -> None:
        self.sums: dict[RollupKey, list[Any]] = {}
        self.histograms: dict[tuple[RollupKey, str, int], int] = {}
        self.errors: dict[tuple[RollupKey, str], int] = {}
        self.metrics: dict[tuple[RollupKey, str], list[Any]] = {}

    def _row(self, key: RollupKey) -> list[Any]:
        sums = self.sums.get(key)
        if sums is None:
            sums = self.sums[key] = [0] * _QUALITY_N + [0, _ZERO, _ZERO]
        return sums

    def add_rows(self, rows: Iterable[Row]) -> None:
        """Fold stored outcome rows (`codec.Row`)."""
        histograms, errors = self.histograms, self.errors
        for row in rows:
            key = (row[1], row[2], minute_of(row[4]), row[3])
            sums = self._row(key)
            latency = row[5]
            sums[0] += 1
            if row[7]:
                sums[1] += 1
            else:
                # Outcome requires a class on failures; a hand-made row may lack one.
                error = (key, row[8] or "unknown")
                errors[error] = errors.get(error, 0) + 1
            sums[2] += latency
            sums[3] += latency * latency
            bucket = (key, _LATENCY, bucket_of(latency))
            histograms[bucket] = histograms.get(bucket, 0) + 1
            ttft = row[6]
            if ttft is not None:
                sums[4] += 1
                sums[5] += ttft
                sums[6] += ttft * ttft
                bucket = (key, _TTFT, bucket_of(ttft))
                histograms[bucket] = histograms.get(bucket, 0) + 1
            sums[7] += row[9]
            sums[8] += row[10]
            sums[9] += row[11]
            sums[10] += row[12]
            if row[15] is not None:
                self.change_quality(key, None, row[15])
            if row[16]:
                for name, value in row[16].items():
                    self.change_metric(key, name, None, value)

    def change_quality(self, key: RollupKey, old: float | None, new: float) -> None:
        """Replace one outcome's quality score `old` (None: it had none) by `new`."""
        sums = self._row(key)
        _change(sums, _QUALITY_N, old, new)

    def change_metric(self, key: RollupKey, name: str, old: float | None, new: float) -> None:
        sums = self.metrics.get((key, name))
        if sums is None:
            sums = self.metrics[(key, name)] = [0, _ZERO, _ZERO]
        _change(sums, 0, old, new)

    def apply(self, session: Session) -> None:
        """Upsert the delta; the caller's transaction makes it atomic with the outcomes."""
        _upsert(session, OutcomeRollupRow.__table__, KEY_COLUMNS, SUM_COLUMNS, self._sum_rows())
        _upsert(
            session,
            RollupHistogramRow.__table__,
            (*KEY_COLUMNS, "metric", "bucket"),
            ("count",),
            ((*key, metric, bucket, count) for (key, metric, bucket), count in self.histograms.items()),
        )
        _upsert(
            session,
            RollupErrorRow.__table__,
            (*KEY_COLUMNS, "error_class"),
            ("count",),
            ((*key, error, count) for (key, error), count in self.errors.items()),
        )
        _upsert(
            session,
            RollupMetricRow.__table__,
            (*KEY_COLUMNS, "name"),
            ("n", "sum", "sum_sq"),
            ((*key, name, *sums) for (key, name), sums in self.metrics.items()),
        )

    def _sum_rows(self) -> Iterable[tuple[Any, ...]]:
        return ((*key, *sums) for key, sums in self.sums.items())


def _change(sums: list[Any], n_at: int, old: float | None, new: float) -> None:
    exact_new = exact(new)
    if old is None:
        sums[n_at] += 1
        sums[n_at + 1] = _EXACT.add(sums[n_at + 1], exact_new)
        sums[n_at + 2] = _EXACT.add(sums[n_at + 2], _EXACT.multiply(exact_new, exact_new))
        return
    exact_old = exact(old)
    sums[n_at + 1] = _EXACT.add(sums[n_at + 1], _EXACT.subtract(exact_new, exact_old))
    squares = _EXACT.subtract(
        _EXACT.multiply(exact_new, exact_new), _EXACT.multiply(exact_old, exact_old)
    )
    sums[n_at + 2] = _EXACT.add(sums[n_at + 2], squares)


def _upsert(
    session: Session,
    table: Table,
    keys: tuple[str, ...],
    counters: tuple[str, ...],
    rows: Iterable[tuple[Any, ...]],
) -> None:
    ordered = sorted(rows, key=lambda row: row[: len(keys)])
    if not ordered:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        ordered = [_sqlite_values(row) for row in ordered]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + stmt.excluded[name] for name in counters},
    )
    names = (*keys, *counters)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        session.execute(stmt, [dict(zip(names, row, strict=True)) for row in chunk])


def _sqlite_values(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # SQLite binds neither Decimal nor integers past 64 bits; its sums are doubles anyway.
    return tuple(
        float(v) if isinstance(v, Decimal) or (isinstance(v, int) and abs(v) >= 2**63) else v
        for v in row
    )


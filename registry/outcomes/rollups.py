"""Folding outcomes into per-minute rollups: a delta built in memory, upserted as sums.

Every counter is added (`col = col + excluded.col`), so applying the delta of a set of
outcomes is the same as having folded them one by one, in any order. Sums that could
outgrow 64 bits or carry fractions (squares, scores) are exact decimals on PostgreSQL:
integers as they are, scores as the decimal of their shortest repr (`exact`).
Rows are upserted in key order, so concurrent writers lock them in the same order.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime
from decimal import Context, Decimal
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from registry.errors import InvalidInputError
from registry.orm import Base
from registry.outcomes.codec import COLUMNS, NULL
from registry.outcomes.histogram import BOUNDARIES_US, BUCKETS
from registry.outcomes.tables import (
    HistogramMetric,
    OutcomeRollupRow,
    RollupErrorRow,
    RollupHistogramRow,
    RollupMetricRow,
)
from registry.sums import add_sums

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
    "cost_sum_sq_micro_usd2",
    "quality_n",
    "quality_sum",
    "quality_sum_sq",
)
_QUALITY_N = SUM_COLUMNS.index("quality_n")
# Scores are at most 1e12 and doubles reach down to 1e-324: 1000 digits hold any sum exactly.
_EXACT = Context(prec=1000)
_ZERO = Decimal(0)
FIELDS = len(COLUMNS)
_NULL = NULL.encode()
_SUCCESS = {b"t": True, b"f": False}
_LATENCY = HistogramMetric.LATENCY.value
_TTFT = HistogramMetric.TTFT.value


def exact(score: float) -> Decimal:
    """A score as the exact decimal its shortest repr spells (PostgreSQL's float8 text)."""
    return Decimal(repr(score))


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _key(raw: tuple[bytes, ...]) -> RollupKey:
    """(team, endpoint, minute, version) from a line's fields; `minute` is the time's
    first 16 characters (`YYYY-MM-DD HH:MM`, UTC)."""
    team, endpoint, minute, version = raw
    at = datetime.fromisoformat(minute.decode() + ":00+00:00")
    return int(team), int(endpoint), at, int(version)


class RollupDelta:
    """What a set of outcomes (or feedback) adds to the rollup tables."""

    def __init__(self) -> None:
        self.sums: dict[RollupKey, list[Any]] = {}
        self.buckets: dict[tuple[RollupKey, str], list[int]] = {}  # dense, BUCKETS long
        self.errors: dict[tuple[RollupKey, str], int] = {}
        self.metrics: dict[tuple[RollupKey, str], list[Any]] = {}

    def add_lines(self, lines: Iterable[bytes]) -> None:
        """Fold encoded outcomes (`codec.encode_outcome` lines), reading only the fields
        the rollups sum; a damaged line raises `InvalidInputError`.

        The hot loop of ingest: it indexes split fields instead of decoding outcomes."""
        minutes: dict[tuple[bytes, ...], tuple[RollupKey, list[Any], list[int], list[int]]] = {}
        try:
            for line in lines:
                f = line.split(b"\t")
                if len(f) != FIELDS or not f[4].endswith(b"+00:00"):
                    raise ValueError("not an outcome line in UTC")
                raw_key = (f[1], f[2], f[4][:16], f[3])
                minute = minutes.get(raw_key)
                if minute is None:
                    key = _key(raw_key)
                    minute = minutes[raw_key] = (
                        key,
                        self._row(key),
                        self._histogram(key, _LATENCY),
                        self._histogram(key, _TTFT),
                    )
                key, sums, latencies, ttfts = minute
                latency = int(f[5])
                sums[0] += 1
                if _SUCCESS[f[7]]:
                    sums[1] += 1
                else:
                    error = (key, f[8].decode())
                    self.errors[error] = self.errors.get(error, 0) + 1
                sums[2] += latency
                sums[3] += latency * latency
                latencies[bisect_right(BOUNDARIES_US, latency)] += 1
                if f[6] != _NULL:
                    ttft = int(f[6])
                    sums[4] += 1
                    sums[5] += ttft
                    sums[6] += ttft * ttft
                    ttfts[bisect_right(BOUNDARIES_US, ttft)] += 1
                sums[7] += int(f[9])
                sums[8] += int(f[10])
                sums[9] += int(f[11])
                cost = int(f[12])
                sums[10] += cost
                sums[11] += cost * cost
                if f[15] != _NULL:
                    _change(sums, _QUALITY_N, None, float(f[15]))
                if not f[16].startswith(_NULL):
                    for name, value in json.loads(f[16]).items():
                        self.change_metric(key, name, None, float(value))
        except (ValueError, KeyError, AttributeError) as exc:
            raise InvalidInputError(
                f"an outcome line is damaged ({type(exc).__name__}: {exc})", field="line"
            ) from None

    def change_quality(self, key: RollupKey, old: float | None, new: float) -> None:
        """Replace one outcome's quality score `old` (None: it had none) by `new`."""
        _change(self._row(key), _QUALITY_N, old, new)

    def change_metric(self, key: RollupKey, name: str, old: float | None, new: float) -> None:
        sums = self.metrics.get((key, name))
        if sums is None:
            sums = self.metrics[(key, name)] = [0, _ZERO, _ZERO]
        _change(sums, 0, old, new)

    def apply(self, session: Session) -> None:
        """Upsert the delta; the caller's transaction makes it atomic with the outcomes."""
        add_sums(
            session,
            _table(OutcomeRollupRow),
            KEY_COLUMNS,
            SUM_COLUMNS,
            ((*key, *sums) for key, sums in self.sums.items()),
        )
        add_sums(
            session,
            _table(RollupHistogramRow),
            (*KEY_COLUMNS, "metric", "bucket"),
            ("count",),
            (
                (*key, metric, bucket, count)
                for (key, metric), counts in self.buckets.items()
                for bucket, count in enumerate(counts)
                if count
            ),
        )
        add_sums(
            session,
            _table(RollupErrorRow),
            (*KEY_COLUMNS, "error_class"),
            ("count",),
            ((*key, error, count) for (key, error), count in self.errors.items()),
        )
        add_sums(
            session,
            _table(RollupMetricRow),
            (*KEY_COLUMNS, "name"),
            ("n", "sum", "sum_sq"),
            ((*key, name, *sums) for (key, name), sums in self.metrics.items()),
        )

    def _row(self, key: RollupKey) -> list[Any]:
        sums = self.sums.get(key)
        if sums is None:
            sums = self.sums[key] = [0] * _QUALITY_N + [0, _ZERO, _ZERO]
        return sums

    def _histogram(self, key: RollupKey, metric: str) -> list[int]:
        return self.buckets.setdefault((key, metric), [0] * BUCKETS)


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


def _table(row: type[Base]) -> Table:
    return cast(Table, row.__table__)

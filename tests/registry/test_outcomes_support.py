"""Shared setup for the outcome tests (no tests here): outcomes with known values, and the
rollups recomputed from them in plain Python, independently of the code under test."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.outcomes import Outcome
from registry.outcomes.histogram import BUCKETS, bucket_range_ms
from registry.outcomes.tables import (
    OutcomeRollupRow,
    RollupErrorRow,
    RollupHistogramRow,
    RollupMetricRow,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TEAM = Team(id=1, name="team-a")
OTHER_TEAM = Team(id=2, name="team-b")
ENDPOINT = 7
ERRORS = ("rate_limited", "timeout", "model_unavailable")


def make_outcomes(
    n: int,
    *,
    seed: int = 0,
    prefix: str = "req",
    start: datetime = T0,
    spacing: timedelta = timedelta(milliseconds=100),
    versions: Sequence[int] = (1, 2),
    team_id: int = TEAM.id,
    endpoint_id: int = ENDPOINT,
) -> list[Outcome]:
    """n outcomes, `spacing` apart, alternating versions; about 4% fail, a third carry a
    time to first token, a fifth a quality score, a tenth a custom metric."""
    rng = random.Random(seed)
    outcomes = []
    for i in range(n):
        failed = rng.random() < 0.04
        outcomes.append(
            Outcome(
                request_id=f"{prefix}-{i}",
                team_id=team_id,
                endpoint_id=endpoint_id,
                model_version_id=versions[i % len(versions)],
                at=start + spacing * i,
                latency_ms=rng.lognormvariate(5.0, 0.6),
                success=not failed,
                error_class=rng.choice(ERRORS) if failed else None,
                ttft_ms=rng.lognormvariate(3.0, 0.5) if i % 3 == 0 else None,
                input_tokens=rng.randrange(10, 2000),
                output_tokens=rng.randrange(1, 500),
                cached_input_tokens=rng.randrange(0, 10),
                cost_micro_usd=rng.randrange(0, 50_000),
                routing_key_hash=rng.getrandbits(63) - 2**62,
                quality=round(rng.random(), 3) if i % 5 == 0 else None,
                metrics={"csat": float(rng.randrange(1, 6))} if i % 10 == 0 else {},
            )
        )
    return outcomes


def micros(ms: float) -> int:
    return round(ms * 1000)


@dataclass
class Expected:
    """A rollup row recomputed from outcomes: integers exact, scores as exact decimals."""

    requests: int = 0
    successes: int = 0
    latency_sum_us: int = 0
    latency_sum_sq_us2: int = 0
    ttft_n: int = 0
    ttft_sum_us: int = 0
    ttft_sum_sq_us2: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost_micro_usd: int = 0
    cost_sum_sq_micro_usd2: int = 0
    quality_n: int = 0
    quality_sum: Decimal = Decimal(0)
    quality_sum_sq: Decimal = Decimal(0)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    ttfts_ms: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, o: Outcome) -> None:
        latency = micros(o.latency_ms)
        self.requests += 1
        self.successes += o.success
        self.latency_sum_us += latency
        self.latency_sum_sq_us2 += latency * latency
        self.latencies_ms.append(latency / 1000)
        if o.ttft_ms is not None:
            ttft = micros(o.ttft_ms)
            self.ttft_n += 1
            self.ttft_sum_us += ttft
            self.ttft_sum_sq_us2 += ttft * ttft
            self.ttfts_ms.append(ttft / 1000)
        self.input_tokens += o.input_tokens
        self.output_tokens += o.output_tokens
        self.cached_input_tokens += o.cached_input_tokens
        self.cost_micro_usd += o.cost_micro_usd
        self.cost_sum_sq_micro_usd2 += o.cost_micro_usd * o.cost_micro_usd
        if o.quality is not None:
            self.add_quality(o.quality)
        if o.error_class is not None:
            self.errors[o.error_class] += 1
        for name, value in o.metrics.items():
            self.metrics[name].append(value)

    def add_quality(self, value: float) -> None:
        exact = Decimal(repr(value))
        self.quality_n += 1
        self.quality_sum += exact
        self.quality_sum_sq += exact * exact


def expected_by_minute(outcomes: Sequence[Outcome]) -> dict[tuple[datetime, int], Expected]:
    found: dict[tuple[datetime, int], Expected] = defaultdict(Expected)
    for o in outcomes:
        found[(o.at.replace(second=0, microsecond=0), o.model_version_id)].add(o)
    return dict(found)


def expected_by_version(outcomes: Sequence[Outcome]) -> dict[int, Expected]:
    found: dict[int, Expected] = defaultdict(Expected)
    for o in outcomes:
        found[o.model_version_id].add(o)
    return dict(found)


def bucket_counts(durations_ms: Sequence[float]) -> dict[int, int]:
    """How many durations lie in each bucket's [low, high), counted by comparison."""
    counts = {}
    for bucket in range(BUCKETS):
        low, high = bucket_range_ms(bucket)
        inside = sum(1 for d in durations_ms if low <= d < high)
        if inside:
            counts[bucket] = inside
    return counts


def rollup_rows(session: Session) -> dict[tuple[datetime, int], OutcomeRollupRow]:
    rows = session.scalars(select(OutcomeRollupRow)).all()
    return {(row.minute, row.model_version_id): row for row in rows}


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup table's rows, sorted: compare before and after."""
    found = {}
    for table in (OutcomeRollupRow, RollupHistogramRow, RollupErrorRow, RollupMetricRow):
        rows = session.execute(select(table.__table__)).all()
        found[table.__tablename__] = sorted(tuple(row) for row in rows)
    return found


def exact_sums(session: Session) -> dict[tuple[datetime, int], tuple[Decimal, ...]]:
    """The rollups' NUMERIC sums as the database holds them (PostgreSQL), not as floats."""
    rows = session.execute(
        text(
            "SELECT minute, model_version_id, latency_sum_sq_us2::text, ttft_sum_sq_us2::text, "
            "quality_sum::text, quality_sum_sq::text FROM outcome_rollups"
        )
    )
    return {(r[0], r[1]): tuple(Decimal(v) for v in r[2:]) for r in rows}


def count_outcomes(session: Session) -> int:
    return int(session.scalar(text("SELECT count(*) FROM outcomes")) or 0)


@contextmanager
def sessions_for(url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()

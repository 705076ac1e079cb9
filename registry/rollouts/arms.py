"""The two arms of a rollout (baseline, candidate) as sums read from the rollups, the part
that came before a step taken off, and the shape `analysis` judges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from analysis import ArmStats, MeanStats, ProportionStats
from registry.domain import Team
from registry.outcomes import LogHistogram, WindowStats, window_stats
from registry.outcomes.rollups import minute_of
from registry.rollouts.domain import ArmSums

MINUTE = timedelta(minutes=1)


def window_end(now: datetime) -> datetime:
    """The end of a window that includes the current minute."""
    return minute_of(now) + MINUTE


def read_arms(
    session: Session,
    team: Team,
    endpoint_id: int,
    since: datetime,
    now: datetime,
    arms: Mapping[str, tuple[list[int], list[int]]],
) -> dict[str, ArmSums]:
    """{arm: sums over [minute(since), now]} for arms given as (version numbers, ids)."""
    windows = window_stats(session, team, endpoint_id, since, window_end(now))
    return {
        name: summed(numbers, (windows[i] for i in ids if i in windows))
        for name, (numbers, ids) in arms.items()
    }


def summed(versions: list[int], windows: Iterable[WindowStats]) -> ArmSums:
    total = ArmSums(versions=versions)
    for window in windows:
        total = add(total, _of_window(versions, window))
    return total


def _of_window(versions: list[int], window: WindowStats) -> ArmSums:
    return ArmSums(
        versions=versions,
        requests=window.requests,
        errors=window.errors.successes,  # `errors` counts failures as its successes
        latency_n=window.latency_ms.n,
        latency_sum_ms=window.latency_ms.sum,
        latency_sum_sq_ms2=window.latency_ms.sum_sq,
        latency_histogram=dict(window.latency_histogram.counts),
        quality_n=window.quality.n,
        quality_sum=window.quality.sum,
        quality_sum_sq=window.quality.sum_sq,
    )


def add(a: ArmSums, b: ArmSums) -> ArmSums:
    histogram = dict(a.latency_histogram)
    for bucket, count in b.latency_histogram.items():
        histogram[bucket] = histogram.get(bucket, 0) + count
    return ArmSums(
        versions=a.versions,
        requests=a.requests + b.requests,
        errors=a.errors + b.errors,
        latency_n=a.latency_n + b.latency_n,
        latency_sum_ms=a.latency_sum_ms + b.latency_sum_ms,
        latency_sum_sq_ms2=a.latency_sum_sq_ms2 + b.latency_sum_sq_ms2,
        latency_histogram=histogram,
        quality_n=a.quality_n + b.quality_n,
        quality_sum=a.quality_sum + b.quality_sum,
        quality_sum_sq=a.quality_sum_sq + b.quality_sum_sq,
    )


def subtract(total: ArmSums, before: ArmSums | None) -> ArmSums:
    """`total` less `before` (the sums as they stood when the step began)."""
    if before is None:
        return total
    histogram = {
        bucket: count - before.latency_histogram.get(bucket, 0)
        for bucket, count in total.latency_histogram.items()
    }
    latency_n = total.latency_n - before.latency_n
    quality_n = total.quality_n - before.quality_n
    return ArmSums(
        versions=total.versions,
        requests=total.requests - before.requests,
        errors=total.errors - before.errors,
        latency_n=latency_n,
        # Round-off of float sums must not leave a remainder with a negative spread.
        latency_sum_ms=total.latency_sum_ms - before.latency_sum_ms if latency_n else 0.0,
        latency_sum_sq_ms2=max(0.0, total.latency_sum_sq_ms2 - before.latency_sum_sq_ms2)
        if latency_n
        else 0.0,
        latency_histogram={bucket: count for bucket, count in histogram.items() if count > 0},
        quality_n=quality_n,
        quality_sum=total.quality_sum - before.quality_sum if quality_n else 0.0,
        quality_sum_sq=max(0.0, total.quality_sum_sq - before.quality_sum_sq) if quality_n else 0.0,
    )


def arm_stats(arm: ArmSums) -> ArmStats:
    """The arm as `analysis.judge_canary` takes it."""
    latency = None
    if arm.latency_n:
        latency = MeanStats(arm.latency_n, arm.latency_sum_ms, arm.latency_sum_sq_ms2)
    quality = None
    if arm.quality_n:
        quality = MeanStats(arm.quality_n, arm.quality_sum, arm.quality_sum_sq)
    return ArmStats(
        errors=ProportionStats(n=arm.requests, successes=arm.errors),
        latency_ms=latency,
        quality=quality,
    )


def p95_ms(arm: ArmSums) -> float | None:
    estimate = LogHistogram(arm.latency_histogram).quantile(0.95)
    return None if estimate is None else estimate.estimate_ms

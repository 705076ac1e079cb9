"""An arm's sufficient statistics per metric: read from a window's rollup sums, less the
part of the start minute that came before the test, and handed to `analysis`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import NDArray

from analysis import MeanStats, ProportionStats
from registry.abtests.domain import (
    ArmData,
    HistogramData,
    MeanData,
    MetricData,
    ProportionData,
    UnusableData,
)
from registry.abtests.metrics import MetricInfo, MetricKind, Source
from registry.outcomes import LogHistogram, WindowStats
from registry.outcomes.histogram import BUCKETS, bucket_range_ms

EMPTY_WINDOW = MeanStats(0, 0.0, 0.0)


def arm_data(version: int, window: WindowStats | None, metrics: Iterable[MetricInfo]) -> ArmData:
    """What the test needs of one version's window; None (no traffic) is all zeros."""
    return ArmData(
        version=version,
        requests=window.requests if window else 0,
        metrics={info.name: _metric_data(info, window) for info in metrics},
    )


def _metric_data(info: MetricInfo, window: WindowStats | None) -> MetricData:
    if info.kind is MetricKind.QUANTILE:
        histogram = _histogram(info, window)
        return HistogramData(counts=dict(histogram.counts))
    if info.kind is MetricKind.MEAN:
        stats = _mean(info, window)
        return MeanData(n=stats.n, sum=stats.sum, sum_sq=stats.sum_sq)
    return _proportion(info, window)


def _histogram(info: MetricInfo, window: WindowStats | None) -> LogHistogram:
    if window is None:
        return LogHistogram()
    return window.ttft_histogram if info.source is Source.TTFT else window.latency_histogram


def _mean(info: MetricInfo, window: WindowStats | None) -> MeanStats:
    if window is None:
        return EMPTY_WINDOW
    by_source = {
        Source.QUALITY: window.quality,
        Source.COST: window.cost_per_request,
        Source.LATENCY: window.latency_ms,
    }
    if info.source is Source.CUSTOM:
        return window.metrics.get(info.custom or "", EMPTY_WINDOW)
    return by_source[info.source]


def _proportion(info: MetricInfo, window: WindowStats | None) -> MetricData:
    if window is None:
        return ProportionData(n=0, successes=0)
    if info.source is Source.SUCCESSES:
        return ProportionData(
            n=window.requests, successes=window.requests - window.errors.successes
        )
    if info.source is Source.ERRORS:
        return ProportionData(n=window.requests, successes=window.errors.successes)
    values = window.metrics.get(info.custom or "", EMPTY_WINDOW)
    return _rate(info, values)


def _rate(info: MetricInfo, values: MeanStats) -> MetricData:
    """A 0/1 feedback metric as a rate: its values are all 0 or 1 exactly when their sum
    of squares equals their sum (and that sum is a whole number)."""
    successes = round(values.sum)
    if abs(values.sum - successes) > 1e-6 or abs(values.sum_sq - values.sum) > 1e-6:
        return UnusableData(
            n=values.n,
            reason=f"{info.name} needs values 0 or 1; {info.custom!r} has others "
            f"(sum {values.sum:g}, sum of squares {values.sum_sq:g})",
        )
    return ProportionData(n=values.n, successes=successes)


def subtract(total: ArmData, before: ArmData | None) -> ArmData:
    """`total` less `before` (the start minute's sums taken when the routes changed)."""
    if before is None:
        return total
    return ArmData(
        version=total.version,
        requests=total.requests - before.requests,
        metrics={
            name: _less(data, before.metrics.get(name)) for name, data in total.metrics.items()
        },
    )


def _less(total: MetricData, before: MetricData | None) -> MetricData:
    if before is None or isinstance(total, UnusableData) or isinstance(before, UnusableData):
        return total
    if isinstance(total, ProportionData) and isinstance(before, ProportionData):
        return ProportionData(n=total.n - before.n, successes=total.successes - before.successes)
    if isinstance(total, MeanData) and isinstance(before, MeanData):
        n = total.n - before.n
        if n == 0:
            return MeanData(n=0, sum=0.0, sum_sq=0.0)
        # Round-off of the float sums must not make the remainder inconsistent.
        sum_sq = max(0.0, total.sum_sq - before.sum_sq)
        return MeanData(n=n, sum=total.sum - before.sum, sum_sq=sum_sq)
    if isinstance(total, HistogramData) and isinstance(before, HistogramData):
        counts = {b: c - before.counts.get(b, 0) for b, c in total.counts.items()}
        return HistogramData(counts={b: c for b, c in counts.items() if c > 0})
    raise ValueError(f"cannot subtract {before.kind} from {total.kind}")


def proportion_stats(data: ProportionData) -> ProportionStats:
    return ProportionStats(n=data.n, successes=data.successes)


def mean_stats(data: MeanData) -> MeanStats:
    return MeanStats(n=data.n, sum=data.sum, sum_sq=data.sum_sq)


def histogram_values(counts: Mapping[int, int]) -> NDArray[np.float64]:
    """The histogram as a sample in milliseconds: a bucket's c values spread geometrically
    over it at positions (k + 0.5) / c, the interpolation `LogHistogram.quantile` uses, so
    order statistics of the sample are the histogram's (within a bucket's 10% width)."""
    parts = []
    for bucket, count in sorted(counts.items()):
        low, high = bucket_range_ms(bucket)
        position = (np.arange(count) + 0.5) / count
        if bucket == 0:
            parts.append(high * position)
        elif bucket == BUCKETS - 1:
            parts.append(np.full(count, low))
        else:
            parts.append(low * (high / low) ** position)
    return np.concatenate(parts) if parts else np.empty(0)

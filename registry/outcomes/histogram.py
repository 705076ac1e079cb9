"""Log-bucket histograms of durations: fixed boundaries, so histograms add bucket by bucket.

Boundaries run from 0.1 ms upwards, each 1.1 times the one before (10% relative width),
past 10 minutes: 165 boundaries, 166 buckets. Bucket 0 holds [0, 0.1 ms), bucket i holds
[b(i-1), b(i)), the last holds everything from about 615 s up. A quantile read from the
histogram lies in the same bucket as the true one, so it is within the bucket's relative
width (10%) of it; in the two open-ended buckets the error is unbounded.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

RATIO = 1.1
LOWEST_US = 100.0  # 0.1 ms
HIGHEST_US = 600_000_000.0  # 10 min: the last boundary is the first at or above this


def _boundaries() -> tuple[float, ...]:
    # Repeated multiplication, not pow(): IEEE multiplication is correctly rounded, so
    # every host computes the same boundaries (libm pow may differ in the last bit).
    bounds = [LOWEST_US]
    while bounds[-1] < HIGHEST_US:
        bounds.append(bounds[-1] * RATIO)
    return tuple(bounds)


BOUNDARIES_US = _boundaries()
BUCKETS = len(BOUNDARIES_US) + 1


def bucket_of(duration_us: float) -> int:
    """The bucket a duration (microseconds) falls in."""
    return bisect_right(BOUNDARIES_US, duration_us)


def bucket_range_ms(bucket: int) -> tuple[float, float]:
    """[low, high) of a bucket in milliseconds; high is infinite for the last bucket."""
    if not 0 <= bucket < BUCKETS:
        raise ValueError(f"bucket must be in [0, {BUCKETS}), got {bucket}")
    low = 0.0 if bucket == 0 else BOUNDARIES_US[bucket - 1] / 1000
    high = math.inf if bucket == BUCKETS - 1 else BOUNDARIES_US[bucket] / 1000
    return low, high


@dataclass(frozen=True)
class QuantileEstimate:
    """A quantile read off a histogram. The sample's true quantile lies in [low, high),
    so |estimate - true| / true < relative_error (infinite in the open-ended buckets)."""

    q: float
    estimate_ms: float
    low_ms: float
    high_ms: float
    relative_error: float


@dataclass(frozen=True)
class LogHistogram:
    """Counts per bucket (only non-empty buckets are kept)."""

    counts: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for bucket, count in self.counts.items():
            bucket_range_ms(bucket)
            if count < 0:
                raise ValueError(f"bucket {bucket} has a negative count ({count})")
        kept = {b: int(c) for b, c in sorted(self.counts.items()) if c}
        object.__setattr__(self, "counts", MappingProxyType(kept))

    @classmethod
    def from_durations_ms(cls, durations: Iterable[float]) -> LogHistogram:
        counts: dict[int, int] = {}
        for duration in durations:
            bucket = bucket_of(round(duration * 1000))
            counts[bucket] = counts.get(bucket, 0) + 1
        return cls(counts)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def quantile(self, q: float) -> QuantileEstimate | None:
        """The q-quantile as the ceil(q*n)-th smallest value (SQL's percentile_disc),
        interpolated geometrically inside its bucket; None for an empty histogram."""
        if not 0.0 < q < 1.0:
            raise ValueError(f"q must be in (0, 1), got {q!r}")
        n = self.n
        if n == 0:
            return None
        rank = max(1, math.ceil(q * n))
        seen = 0
        for bucket, count in self.counts.items():
            if seen + count >= rank:
                return _estimate(q, bucket, (rank - seen - 0.5) / count)
            seen += count
        raise AssertionError("unreachable: rank <= n")

    def __add__(self, other: LogHistogram) -> LogHistogram:
        merged = dict(self.counts)
        for bucket, count in other.counts.items():
            merged[bucket] = merged.get(bucket, 0) + count
        return LogHistogram(merged)


def _estimate(q: float, bucket: int, position: float) -> QuantileEstimate:
    low, high = bucket_range_ms(bucket)
    if bucket == 0:
        return QuantileEstimate(q, high * position, low, high, math.inf)
    if math.isinf(high):
        return QuantileEstimate(q, low, low, high, math.inf)
    estimate = low * (high / low) ** position
    return QuantileEstimate(q, estimate, low, high, high / low - 1)

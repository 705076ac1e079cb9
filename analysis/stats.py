"""Sufficient statistics of one arm: the only inputs the engine needs.

SQL computes them (COUNT, SUM, SUM of squares); the engine never sees rows.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

# Below this share of E[x^2], sum_sq - sum^2/n is float round-off, not spread.
_RELATIVE_VARIANCE_FLOOR = 1e-10


def _check_count(owner: object, name: str) -> None:
    """Accept any integral count (numpy ints included) and store it as a plain int."""
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    object.__setattr__(owner, name, int(value))


@dataclass(frozen=True)
class ProportionStats:
    """`successes` out of `n` units (conversions, errors, correct answers)."""

    n: int
    successes: int

    def __post_init__(self) -> None:
        _check_count(self, "n")
        _check_count(self, "successes")
        if self.successes > self.n:
            raise ValueError(f"successes ({self.successes}) cannot exceed n ({self.n})")

    @classmethod
    def from_values(cls, values: Iterable[bool | int]) -> ProportionStats:
        """Count 0/1 (or bool) outcomes; anything else is a `ValueError`."""
        n = successes = 0
        for value in values:
            if value not in (0, 1):
                raise ValueError(f"proportion values must be 0/1 or bool, got {value!r}")
            n += 1
            successes += int(value)
        return cls(n=n, successes=successes)

    @property
    def mean(self) -> float:
        """Share of successes; 0.0 for an empty arm (callers check `n` first)."""
        return self.successes / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Bernoulli variance p(1 - p), as gbstats uses for its Welch test."""
        p = self.mean
        return p * (1.0 - p)

    def __add__(self, other: ProportionStats) -> ProportionStats:
        return ProportionStats(n=self.n + other.n, successes=self.successes + other.successes)


@dataclass(frozen=True)
class MeanStats:
    """Count, sum and sum of squares of a numeric metric (latency, score, cost)."""

    n: int
    sum: float
    sum_sq: float

    def __post_init__(self) -> None:
        _check_count(self, "n")
        object.__setattr__(self, "sum", float(self.sum))
        object.__setattr__(self, "sum_sq", float(self.sum_sq))
        if not (math.isfinite(self.sum) and math.isfinite(self.sum_sq)):
            raise ValueError(f"sum and sum_sq must be finite, got {self.sum!r}, {self.sum_sq!r}")
        if self.sum_sq < 0:
            raise ValueError(f"sum_sq must be >= 0, got {self.sum_sq}")
        if self.n == 0 and (self.sum != 0 or self.sum_sq != 0):
            raise ValueError("an empty arm (n=0) must have sum=0 and sum_sq=0")
        # Cauchy-Schwarz: |sum| <= sqrt(n * sum_sq) for any real data; allow round-off.
        if abs(self.sum) > math.sqrt(self.n * self.sum_sq) * (1 + 1e-9) + 1e-12:
            raise ValueError(
                f"inconsistent sufficient statistics: |sum| ({abs(self.sum):g}) exceeds "
                f"sqrt(n * sum_sq) ({math.sqrt(self.n * self.sum_sq):g})"
            )

    @classmethod
    def from_values(cls, values: Iterable[float]) -> MeanStats:
        """Accumulate n, sum and sum of squares; non-finite values are a `ValueError`."""
        data = [float(v) for v in values]
        if not all(math.isfinite(v) for v in data):
            raise ValueError("values must be finite numbers")
        return cls(n=len(data), sum=math.fsum(data), sum_sq=math.fsum(v * v for v in data))

    @property
    def mean(self) -> float:
        """Sample mean; 0.0 for an empty arm (callers check `n` first)."""
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Unbiased sample variance (n - 1); 0.0 when n < 2 or the spread is round-off."""
        if self.n < 2:
            return 0.0
        raw = (self.sum_sq - self.mean * self.sum) / (self.n - 1)
        if raw <= _RELATIVE_VARIANCE_FLOOR * (self.sum_sq / self.n):
            return 0.0
        return raw

    @property
    def sd(self) -> float:
        return math.sqrt(self.variance)

    def __add__(self, other: MeanStats) -> MeanStats:
        return MeanStats(
            n=self.n + other.n, sum=self.sum + other.sum, sum_sq=self.sum_sq + other.sum_sq
        )

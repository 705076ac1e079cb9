"""Sufficient statistics: constructors, pooling and validation."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import MeanStats, ProportionStats


def test_proportion_from_values_counts_successes() -> None:
    stats = ProportionStats.from_values([True, False, 1, 0, 1])
    assert stats == ProportionStats(n=5, successes=3)
    assert stats.mean == pytest.approx(0.6) and stats.variance == pytest.approx(0.24)


def test_mean_from_values_gives_unbiased_variance() -> None:
    values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    stats = MeanStats.from_values(values)
    assert (stats.n, stats.sum, stats.sum_sq) == (8, 40.0, 232.0)
    assert stats.variance == pytest.approx(np.var(values, ddof=1))


def test_stats_pool_by_addition() -> None:
    assert ProportionStats(10, 3) + ProportionStats(5, 1) == ProportionStats(15, 4)
    assert MeanStats(2, 3.0, 5.0) + MeanStats(1, 2.0, 4.0) == MeanStats(3, 5.0, 9.0)


def test_numpy_integer_counts_are_stored_as_int() -> None:
    stats = ProportionStats(np.int64(10), np.int64(4))  # type: ignore[arg-type]
    assert type(stats.n) is int and type(stats.successes) is int


def test_empty_arm_means_are_zero_not_nan() -> None:
    assert ProportionStats(0, 0).mean == 0.0
    assert MeanStats(0, 0.0, 0.0).mean == 0.0 and MeanStats(0, 0.0, 0.0).variance == 0.0


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ProportionStats(-1, 0), "n must be >= 0"),
        (lambda: ProportionStats(5, 6), "cannot exceed"),
        (lambda: ProportionStats(5, -1), "successes must be >= 0"),
        (lambda: ProportionStats(5.5, 1), "integer"),  # type: ignore[arg-type]
        (lambda: ProportionStats(True, 1), "integer"),
        (lambda: ProportionStats.from_values([0, 1, 2]), "0/1"),
        (lambda: MeanStats(-2, 0.0, 0.0), "n must be >= 0"),
        (lambda: MeanStats(2, 1.0, -1.0), "sum_sq"),
        (lambda: MeanStats(2, 10.0, 1.0), "inconsistent"),
        (lambda: MeanStats(0, 1.0, 1.0), "empty"),
        (lambda: MeanStats(2, float("nan"), 1.0), "finite"),
        (lambda: MeanStats.from_values([1.0, float("inf")]), "finite"),
    ],
)
def test_impossible_statistics_raise_value_error(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]

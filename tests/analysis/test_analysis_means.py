"""compare_means: Welch t against scipy, margins, relative tests, data conditions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis import MeanStats, Status, compare_means


def sample(seed: int, n: int, mean: float, sd: float) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, n)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_welch_matches_scipy_ttest_ind_on_raw_values(alternative: str) -> None:
    x, y = sample(1, 40, 10.0, 2.0), sample(2, 25, 11.0, 4.0)
    reference = stats.ttest_ind(y, x, equal_var=False, alternative=alternative)
    result = compare_means(
        MeanStats.from_values(x.tolist()),
        MeanStats.from_values(y.tolist()),
        alternative=alternative,
    )
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.dof == pytest.approx(reference.df, rel=1e-9)


def test_margin_shifts_the_null_like_testing_shifted_data() -> None:
    x, y = sample(3, 50, 100.0, 10.0), sample(4, 60, 104.0, 12.0)
    a, b = MeanStats.from_values(x.tolist()), MeanStats.from_values(y.tolist())
    shifted = stats.ttest_ind(y - 5.0, x, equal_var=False, alternative="less")
    result = compare_means(a, b, alternative="less", margin=5.0)
    assert result.p_value == pytest.approx(shifted.pvalue, rel=1e-9)


def test_interval_matches_scipy_confidence_interval() -> None:
    x, y = sample(5, 30, 0.0, 1.0), sample(6, 45, 0.5, 1.5)
    reference = stats.ttest_ind(y, x, equal_var=False).confidence_interval(0.9)
    result = compare_means(
        MeanStats.from_values(x.tolist()), MeanStats.from_values(y.tolist()), alpha=0.1
    )
    assert result.diff_ci == pytest.approx((reference.low, reference.high), rel=1e-9)


def test_latency_at_most_ten_percent_slower_is_shown_by_a_relative_margin() -> None:
    base = MeanStats.from_values(sample(7, 5000, 200.0, 40.0).tolist())
    slower = MeanStats.from_values(sample(8, 5000, 206.0, 40.0).tolist())
    result = compare_means(base, slower, alternative="less", margin=0.10, relative=True)
    assert result.significant and result.rel_lift is not None
    assert 0.02 < result.rel_lift < 0.04


def test_one_arm_with_zero_variance_still_tests() -> None:
    result = compare_means(MeanStats(5, 10.0, 20.0), MeanStats(5, 15.0, 47.0))
    assert result.status is Status.OK
    assert result.dof == pytest.approx(4.0)


def test_both_arms_constant_is_zero_variance_not_nan() -> None:
    result = compare_means(MeanStats(3, 3.0, 3.0), MeanStats(4, 8.0, 16.0))
    assert result.status is Status.ZERO_VARIANCE
    assert result.diff == pytest.approx(1.0)
    assert result.p_value == 1.0 and not result.significant
    assert result.diff_ci == (-math.inf, math.inf)


def test_round_off_spread_counts_as_zero_variance() -> None:
    constant = MeanStats.from_values([0.1] * 1000)
    assert constant.variance == 0.0
    assert compare_means(constant, constant).status is Status.ZERO_VARIANCE


@pytest.mark.parametrize(
    ("a", "b", "status"),
    [
        (MeanStats(0, 0.0, 0.0), MeanStats(5, 5.0, 7.0), Status.EMPTY_INPUT),
        (MeanStats(1, 2.0, 4.0), MeanStats(5, 5.0, 7.0), Status.TOO_FEW_SAMPLES),
    ],
)
def test_too_little_data_is_coded(a: MeanStats, b: MeanStats, status: Status) -> None:
    result = compare_means(a, b)
    assert result.status is status and result.reason and not result.significant


def test_relative_test_against_non_positive_baseline_is_coded() -> None:
    a, b = MeanStats(3, -3.0, 5.0), MeanStats(3, 3.0, 5.0)
    assert compare_means(a, b).rel_lift is None
    assert compare_means(a, b, relative=True).status is Status.BASELINE_NOT_POSITIVE


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, math.nan])
def test_alpha_outside_unit_interval_raises(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        compare_means(MeanStats(3, 3.0, 5.0), MeanStats(3, 3.0, 5.0), alpha=alpha)


def test_wrong_input_type_raises() -> None:
    with pytest.raises(ValueError, match="MeanStats"):
        compare_means((3, 3.0, 5.0), MeanStats(3, 3.0, 5.0))  # type: ignore[arg-type]

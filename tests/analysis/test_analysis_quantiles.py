"""Quantile intervals (exact order statistics) and two-sample quantile comparisons."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis import Bootstrap, Method, Status, compare_quantiles, quantile_ci

RNG_SEED = 20240611


def latencies(seed: int, n: int, scale: float = 1.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).lognormal(5.0, 0.5, n)


@pytest.mark.parametrize(("n", "q"), [(20, 0.5), (200, 0.95), (1000, 0.99), (57, 0.25)])
def test_quantile_ci_matches_scipy_quantile_test_interval(n: int, q: float) -> None:
    values = latencies(n, n)
    result = quantile_ci(values, q)
    # scipy.stats.quantile_test(...).confidence_interval: the same exact binomial construction.
    reference = stats.quantile_test(values, q=np.quantile(values, q), p=q).confidence_interval(0.95)
    assert result.status is Status.OK
    assert result.ci == (reference.low, reference.high)
    assert result.ci[0] <= result.estimate <= result.ci[1]


def test_quantile_ci_covers_the_true_p95_at_least_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(RNG_SEED)
    true_p95 = float(stats.expon.ppf(0.95))
    covered = sum(
        low <= true_p95 <= high
        for low, high in (quantile_ci(rng.exponential(size=300), 0.95).ci for _ in range(2000))
    )
    assert covered / 2000 >= 0.94  # exact coverage is >= 0.95; 0.94 allows Monte Carlo error


def test_too_few_values_for_the_tail_quantile_is_coded_with_an_open_side() -> None:
    result = quantile_ci(list(range(1, 21)), 0.95)
    assert result.status is Status.TOO_FEW_SAMPLES and result.ci[1] == math.inf
    assert quantile_ci([], 0.5).status is Status.EMPTY_INPUT


def test_order_statistic_comparison_detects_a_ten_percent_slower_p95() -> None:
    result = compare_quantiles(latencies(1, 4000), latencies(2, 4000, scale=1.1), 0.95)
    assert result.method is Method.ORDER_STATISTIC and result.significant
    assert result.rel_lift is not None and 0.03 < result.rel_lift < 0.2


def test_equal_distributions_are_not_judged_different() -> None:
    result = compare_quantiles(latencies(3, 4000), latencies(4, 4000), 0.95)
    assert not result.significant and result.diff_ci[0] < 0 < result.diff_ci[1]


def test_relative_non_inferiority_margin_on_p95() -> None:
    result = compare_quantiles(
        latencies(5, 5000), latencies(6, 5000), 0.95, alternative="less", margin=0.15, relative=True
    )
    assert result.significant and result.rel_lift_ci is not None
    assert result.rel_lift_ci[1] < 0.15


def test_bootstrap_is_reproducible_for_a_seed_and_agrees_with_order_statistics() -> None:
    x, y = latencies(7, 1500), latencies(8, 1500, scale=1.08)
    first = compare_quantiles(x, y, 0.9, bootstrap=Bootstrap(n_resamples=500, seed=3))
    again = compare_quantiles(x, y, 0.9, bootstrap=Bootstrap(n_resamples=500, seed=3))
    assert first == again and first.method is Method.BOOTSTRAP
    analytic = compare_quantiles(x, y, 0.9)
    assert first.diff == analytic.diff
    assert first.diff_se == pytest.approx(analytic.diff_se, rel=0.35)
    assert 0.0 < first.p_value <= 1.0 and first.statistic is None


def test_identical_tied_values_are_zero_variance() -> None:
    result = compare_quantiles([100.0] * 500, [100.0] * 500, 0.95)
    assert result.status is Status.ZERO_VARIANCE and not result.significant


@pytest.mark.parametrize("q", [0.0, 1.0, 1.5])
def test_q_outside_unit_interval_raises(q: float) -> None:
    with pytest.raises(ValueError, match="q must be"):
        quantile_ci([1.0, 2.0], q)


def test_non_finite_values_raise() -> None:
    with pytest.raises(ValueError, match="finite"):
        compare_quantiles([1.0, math.nan], [1.0, 2.0], 0.5)

"""Quantile intervals (exact order statistics) and two-sample quantile comparisons."""

from __future__ import annotations

import math
from fractions import Fraction

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


def binomial_cdf(k: int, n: int, q: Fraction) -> Fraction:
    """P(B <= k) for B ~ Binomial(n, q), exactly."""
    return sum((math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k + 1)), Fraction(0))


def test_median_interval_of_twenty_values_is_the_sixth_to_the_fifteenth() -> None:
    # Campbell & Gardner (1988), BMJ 296:1454, Table 1: for n = 20 the 95% interval for the
    # median runs from the 6th to the 15th smallest value, exact level 95.9%. By hand:
    # P(6 <= B <= 14), B ~ Binomial(20, 1/2) = 1 - 2 * 21700 / 2**20 = 0.958611.
    values = latencies(21, 20)
    result = quantile_ci(values, 0.5)
    ordered = np.sort(values)
    coverage = binomial_cdf(14, 20, Fraction(1, 2)) - binomial_cdf(5, 20, Fraction(1, 2))
    assert coverage == 1 - Fraction(2 * 21700, 2**20) and round(float(coverage), 3) == 0.959
    assert (result.lower_rank, result.upper_rank) == (6, 15)
    assert result.ci == (ordered[5], ordered[14])


@pytest.mark.parametrize(("n", "q"), [(30, 0.5), (100, 0.9), (200, 0.95), (60, 0.25)])
def test_order_statistic_ranks_are_the_exact_binomial_ones(n: int, q: float) -> None:
    # X_(j) <= xi_q < X_(k) holds when j <= B < k, B = #{X_i <= xi_q} ~ Binomial(n, q): the
    # lower rank is the smallest j with P(B <= j) >= 2.5%, the upper one more than the
    # smallest k - 1 with P(B <= k - 1) >= 97.5%; exact arithmetic with fractions.
    fraction = Fraction(q).limit_denominator(100)
    cdf = [binomial_cdf(k, n, fraction) for k in range(n + 1)]
    lower = next(j for j in range(n + 1) if cdf[j] >= Fraction(1, 40))
    upper = next(k for k in range(n + 1) if cdf[k] >= Fraction(39, 40)) + 1
    result = quantile_ci(latencies(n + 1, n), q)
    assert (result.lower_rank, result.upper_rank) == (lower, upper)
    assert cdf[upper - 1] - cdf[lower - 1] >= Fraction(95, 100)


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


def resampled_quantiles(
    x: np.ndarray, y: np.ndarray, q: float, n_resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The percentile bootstrap written out: from one numpy generator seeded with `seed`,
    resample x, then y, with replacement, and take each resample's q-quantile."""
    rng = np.random.default_rng(seed)
    qx = np.quantile(x[rng.integers(0, x.size, size=(n_resamples, x.size))], q, axis=1)
    qy = np.quantile(y[rng.integers(0, y.size, size=(n_resamples, y.size))], q, axis=1)
    return qx, qy


def test_bootstrap_intervals_are_the_percentile_intervals_of_the_resampled_quantiles() -> None:
    x, y = latencies(7, 300), latencies(8, 300, scale=1.08)
    boot = Bootstrap(n_resamples=1000, seed=3)
    qx, qy = resampled_quantiles(x, y, 0.9, 1000, seed=3)
    lifts, diffs = qy / qx - 1.0, qy - qx

    two_sided = compare_quantiles(x, y, 0.9, bootstrap=boot)
    greater = compare_quantiles(x, y, 0.9, bootstrap=boot, alternative="greater")

    assert two_sided.rel_lift_ci == pytest.approx(tuple(np.quantile(lifts, [0.025, 0.975])))
    assert two_sided.diff_ci == pytest.approx(tuple(np.quantile(diffs, [0.025, 0.975])))
    assert greater.rel_lift_ci == pytest.approx((float(np.quantile(lifts, 0.05)), math.inf))
    # Not the delta-method normal interval (estimate +- z se), which the skew moves away from.
    assert two_sided.rel_lift is not None and two_sided.rel_lift_se is not None
    normal_high = two_sided.rel_lift + float(stats.norm.ppf(0.975)) * two_sided.rel_lift_se
    assert two_sided.rel_lift_ci is not None
    assert abs(two_sided.rel_lift_ci[1] - normal_high) > 0.01


def test_bootstrap_lift_interval_agrees_with_scipy_percentile_bootstrap() -> None:
    # scipy resamples with its own generator, so the endpoints agree up to Monte Carlo error:
    # the share of our B1 = 4000 lifts below scipy's 2.5% endpoint (from B2 = 10,000) is
    # 0.025 +- 3.29 sqrt(0.025 * 0.975 * (1/B1 + 1/B2)) = 0.025 +- 0.0096 with 99.9%
    # probability (normal approximation to both binomial counts); likewise at 97.5%.
    x, y = latencies(9, 300), latencies(10, 300, scale=1.05)
    ours = compare_quantiles(x, y, 0.9, bootstrap=Bootstrap(n_resamples=4000, seed=5))
    qx, qy = resampled_quantiles(x, y, 0.9, 4000, seed=5)
    lifts = qy / qx - 1.0

    def lift(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.quantile(b, 0.9, axis=axis) / np.quantile(a, 0.9, axis=axis) - 1.0

    reference = stats.bootstrap(
        (x, y), lift, method="percentile", n_resamples=10_000, vectorized=True, random_state=1
    ).confidence_interval
    tolerance = 3.29 * math.sqrt(0.025 * 0.975 * (1 / 4000 + 1 / 10_000))
    assert ours.rel_lift_ci == pytest.approx(tuple(np.quantile(lifts, [0.025, 0.975])))
    assert abs(float(np.mean(lifts <= reference.low)) - 0.025) <= tolerance
    assert abs(float(np.mean(lifts <= reference.high)) - 0.975) <= tolerance


def test_bootstrap_is_reproducible_for_a_seed() -> None:
    x, y = latencies(7, 1500), latencies(8, 1500, scale=1.08)
    first = compare_quantiles(x, y, 0.9, bootstrap=Bootstrap(n_resamples=500, seed=3))
    again = compare_quantiles(x, y, 0.9, bootstrap=Bootstrap(n_resamples=500, seed=3))
    other = compare_quantiles(x, y, 0.9, bootstrap=Bootstrap(n_resamples=500, seed=4))
    assert first == again and first.method is Method.BOOTSTRAP and first.statistic is None
    assert other.diff_ci != first.diff_ci


def test_bootstrap_p_value_counts_resamples_beyond_the_margin() -> None:
    # (count + 1) / (B + 1) over the resampled differences, "greater": those <= margin.
    x, y = latencies(11, 400), latencies(12, 400, scale=1.03)
    qx, qy = resampled_quantiles(x, y, 0.5, 800, seed=2)
    result = compare_quantiles(
        x, y, 0.5, alternative="greater", margin=5.0, bootstrap=Bootstrap(800, seed=2)
    )
    assert result.p_value == pytest.approx((np.count_nonzero(qy - qx <= 5.0) + 1) / 801)


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

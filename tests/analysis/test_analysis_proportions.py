"""compare_proportions: methods, margins, intervals, data conditions and misuse."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from analysis import (
    Alternative,
    AnalysisWarning,
    Method,
    ProportionStats,
    Status,
    compare_proportions,
)


def restricted_mle_by_search(a: ProportionStats, b: ProportionStats, margin: float) -> float:
    """Farrington-Manning z computed independently: maximise the likelihood numerically."""

    def negative_log_likelihood(p_a: float) -> float:
        p_b = p_a + margin
        return -float(
            stats.binom.logpmf(a.successes, a.n, p_a) + stats.binom.logpmf(b.successes, b.n, p_b)
        )

    low, high = max(0.0, -margin) + 1e-12, min(1.0, 1.0 - margin) - 1e-12
    p_a = optimize.minimize_scalar(
        negative_log_likelihood, bounds=(low, high), method="bounded", options={"xatol": 1e-13}
    ).x
    p_b = p_a + margin
    variance = p_a * (1 - p_a) / a.n + p_b * (1 - p_b) / b.n
    return (b.mean - a.mean - margin) / math.sqrt(variance)


@pytest.mark.parametrize(
    ("a", "b", "margin"),
    [
        (ProportionStats(83, 5), ProportionStats(99, 12), 0.02),
        (ProportionStats(83, 5), ProportionStats(99, 12), -0.05),
        (ProportionStats(5000, 100), ProportionStats(2000, 61), 0.01),
        (ProportionStats(400, 390), ProportionStats(300, 280), -0.03),
    ],
)
def test_margin_uses_farrington_manning_restricted_mle(
    a: ProportionStats, b: ProportionStats, margin: float
) -> None:
    result = compare_proportions(a, b, margin=margin, alternative="greater")
    assert result.statistic == pytest.approx(restricted_mle_by_search(a, b, margin), abs=1e-5)


def test_non_inferiority_is_shown_with_zero_errors_in_both_arms() -> None:
    # statsmodels 0.15 test_proportions_2indep(0, 500, 0, 500, value=0.01, method="score",
    # correction=False, alternative="smaller"): z = -2.247332874877386, p = 0.012309380690410373.
    zero = ProportionStats(n=500, successes=0)
    result = compare_proportions(zero, zero, alternative="less", margin=0.01)
    assert result.status is Status.OK
    assert result.statistic == pytest.approx(-2.247332874877386, abs=1e-9)
    assert result.p_value == pytest.approx(0.012309380690410373, abs=1e-9)
    assert result.significant


def test_newcombe_interval_matches_published_examples() -> None:
    # Newcombe (1998) Stat Med 17:873, Table II, method 10: 56/70 - 48/80 -> (0.0524, 0.3339)
    # and 0/10 - 0/20 -> (-0.1611, 0.2775); statsmodels confint_proportions_2indep("newcomb")
    # gives (0.05243147240236498, 0.33387265403690614) and (-0.1611251580528194, 0.2775327998...).
    result = compare_proportions(ProportionStats(80, 48), ProportionStats(70, 56))
    assert result.diff_ci == pytest.approx((0.05243147240236498, 0.33387265403690614), abs=1e-12)
    empty_events = compare_proportions(ProportionStats(20, 0), ProportionStats(10, 0), margin=0.1)
    assert empty_events.diff_ci == pytest.approx((-0.1611251580528194, 0.27753279986288926))


def test_welch_on_zero_one_data_matches_scipy_ttest_on_raw_rows_up_to_bernoulli_variance() -> None:
    # gbstats uses p(1-p) as the variance; scipy uses n/(n-1) times that. With n large they agree.
    a, b = ProportionStats(4000, 400), ProportionStats(4100, 460)
    rows_a = np.r_[np.ones(400), np.zeros(3600)]
    rows_b = np.r_[np.ones(460), np.zeros(3640)]
    reference = stats.ttest_ind(rows_b, rows_a, equal_var=False)
    result = compare_proportions(a, b, method="welch")
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-3)
    assert result.dof == pytest.approx(reference.df, rel=1e-3)


def test_one_sided_p_values_halve_the_two_sided_one_in_the_observed_direction() -> None:
    a, b = ProportionStats(1000, 100), ProportionStats(1000, 130)
    two = compare_proportions(a, b)
    greater = compare_proportions(a, b, alternative="greater")
    less = compare_proportions(a, b, alternative="less")
    assert greater.p_value == pytest.approx(two.p_value / 2)
    assert less.p_value == pytest.approx(1 - two.p_value / 2)
    assert greater.diff_ci[1] == math.inf and less.diff_ci[0] == -math.inf


def test_relative_test_uses_a_relative_margin() -> None:
    a, b = ProportionStats(40_000, 4000), ProportionStats(40_000, 4160)
    result = compare_proportions(a, b, relative=True, alternative="less", margin=0.10)
    assert result.relative and result.rel_lift == pytest.approx(0.04)
    # lift 4% with delta-method SE ~0.0218: z = (0.04 - 0.10) / 0.0218 = -2.75.
    assert result.statistic == pytest.approx(-2.75, abs=0.01)
    assert result.significant
    assert not compare_proportions(a, b, relative=True, alternative="less", margin=0.05).significant
    assert result.rel_lift_ci is not None and result.rel_lift_ci[1] < 0.10


def test_empty_arm_is_a_coded_result_not_an_exception() -> None:
    result = compare_proportions(ProportionStats(0, 0), ProportionStats(10, 3))
    assert result.status is Status.EMPTY_INPUT
    assert result.p_value == 1.0 and not result.significant
    assert result.diff_ci == (-math.inf, math.inf)
    assert result.reason


@pytest.mark.parametrize("method", ["z", "wald", "chi2", "welch"])
def test_no_successes_in_either_arm_is_coded(method: str) -> None:
    result = compare_proportions(ProportionStats(50, 0), ProportionStats(60, 0), method=method)
    assert result.status is Status.NO_SUCCESSES
    assert not result.significant and result.statistic is None


def test_every_unit_succeeding_is_zero_variance() -> None:
    result = compare_proportions(ProportionStats(50, 50), ProportionStats(60, 60), method="wald")
    assert result.status is Status.ZERO_VARIANCE


def test_relative_lift_is_none_with_a_warning_when_baseline_rate_is_zero() -> None:
    result = compare_proportions(ProportionStats(200, 0), ProportionStats(200, 9))
    assert result.status is Status.OK
    assert result.rel_lift is None and result.rel_lift_ci is None
    assert AnalysisWarning.BASELINE_NOT_POSITIVE in result.warnings


def test_relative_test_with_zero_baseline_is_coded() -> None:
    result = compare_proportions(ProportionStats(200, 0), ProportionStats(200, 9), relative=True)
    assert result.status is Status.BASELINE_NOT_POSITIVE


def test_small_counts_carry_a_small_sample_warning() -> None:
    result = compare_proportions(ProportionStats(30, 2), ProportionStats(30, 8))
    assert AnalysisWarning.SMALL_SAMPLE in result.warnings


def test_welch_needs_two_units_per_arm() -> None:
    result = compare_proportions(ProportionStats(1, 1), ProportionStats(10, 3), method="welch")
    assert result.status is Status.TOO_FEW_SAMPLES


def test_result_records_what_was_asked() -> None:
    result = compare_proportions(
        ProportionStats(100, 10), ProportionStats(120, 20), alternative="less", alpha=0.1
    )
    assert result.method is Method.Z and result.alternative is Alternative.LESS
    assert (result.alpha, result.n_a, result.n_b) == (0.1, 100, 120)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"alternative": "bigger"}, "alternative"),
        ({"method": "fisher"}, "method"),
        ({"method": "chi2", "alternative": "greater"}, "chi2"),
        ({"method": "chi2", "margin": 0.01}, "chi2"),
        ({"method": "chi2", "relative": True}, "chi2"),
        ({"yates": True}, "yates"),
        ({"margin": 1.0}, "margin"),
        ({"margin": math.nan}, "margin"),
    ],
)
def test_misuse_raises_value_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare_proportions(ProportionStats(10, 2), ProportionStats(10, 3), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("yates", [False, True])
def test_chi2_matches_scipy_chi2_contingency_on_many_tables(yates: bool) -> None:
    rng = np.random.default_rng(31)
    for _ in range(300):
        n_a, n_b = (int(v) for v in rng.integers(2, 400, 2))
        x_a, x_b = int(rng.integers(0, n_a + 1)), int(rng.integers(0, n_b + 1))
        if x_a + x_b in (0, n_a + n_b):
            continue
        table = [[x_a, n_a - x_a], [x_b, n_b - x_b]]
        reference = stats.chi2_contingency(table, correction=yates)
        result = compare_proportions(
            ProportionStats(n_a, x_a), ProportionStats(n_b, x_b), method="chi2", yates=yates
        )
        assert result.statistic == pytest.approx(reference.statistic, rel=1e-9, abs=1e-12)
        assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-12)

"""Every reference case of shared/anchors/ab_stats.md §3, reproduced to 5 decimals.

Each test names the published source the anchor took the numbers from.
"""

from __future__ import annotations

import pytest

from analysis import (
    MeanStats,
    ProportionStats,
    SequentialDecision,
    adjust_pvalues,
    bayesian_effect,
    compare_means,
    compare_proportions,
    mann_whitney,
    sample_size_means,
    sequential_proportions,
    srm_check,
)

DECIMALS = 5


def close(value: float | None, expected: float) -> bool:
    assert value is not None
    return round(value, DECIMALS) == round(expected, DECIMALS)


# --- Case 1: statsmodels test_proportion.py::test_default_values, counts [5, 12], n [83, 99].
CASE1_A, CASE1_B = ProportionStats(n=83, successes=5), ProportionStats(n=99, successes=12)


def test_case1_pooled_z_matches_statsmodels_proportions_ztest() -> None:
    result = compare_proportions(CASE1_A, CASE1_B, method="z")
    # statsmodels reports z for count[0] - count[1] = a - b: -1.4078304151258787; ours is b - a.
    assert result.statistic == pytest.approx(1.4078304151258787, abs=1e-12)
    assert result.p_value == pytest.approx(0.15918129181156992, abs=1e-12)


def test_case1_chi2_without_yates_equals_pooled_z_and_with_yates_is_larger() -> None:
    plain = compare_proportions(CASE1_A, CASE1_B, method="chi2")
    # scipy chi2_contingency(correction=False): chi2 = 1.98199, p as the z test.
    assert close(plain.statistic, 1.98199)
    assert plain.p_value == pytest.approx(0.15918129181156992, abs=1e-9)
    # Yates-corrected p = 0.24927 (scipy chi2_contingency default for 2x2).
    assert close(compare_proportions(CASE1_A, CASE1_B, method="chi2", yates=True).p_value, 0.24927)


def test_case1_unpooled_wald_difference_interval_and_p() -> None:
    result = compare_proportions(CASE1_A, CASE1_B, method="wald")
    assert close(result.diff, 0.060971)
    assert close(result.diff_ci[0], -0.021208)
    assert close(result.diff_ci[1], 0.143150)
    assert close(result.p_value, 0.145903)


# --- Case 2: gbstats tests/frequentist/test_tests.py::TestTwoSidedTTest (Welch from sums).
CASE2_A = MeanStats(n=3407, sum=1396.87, sum_sq=52377.9767)
CASE2_B = MeanStats(n=3461, sum=2422.7, sum_sq=134698.29)


def test_case2_welch_absolute_difference_from_sums() -> None:
    result = compare_means(CASE2_A, CASE2_B)
    assert close(CASE2_A.variance, 15.21) and close(CASE2_B.variance, 38.44)
    assert close(result.diff, 0.29)
    assert close(result.diff_se, 0.12478)
    assert result.dof is not None and round(result.dof, 1) == 5841.7
    assert close(result.diff_ci[0], 0.04538) and close(result.diff_ci[1], 0.53462)
    assert close(result.p_value, 0.02016)
    # scipy ttest_ind_from_stats(equal_var=False) gives p = 0.0201584.
    assert round(result.p_value, 7) == 0.0201584


def test_case2_welch_relative_lift_by_delta_method() -> None:
    result = compare_means(CASE2_A, CASE2_B, relative=True)
    assert close(result.rel_lift, 0.70732)
    assert close(result.rel_lift_se, 0.37879)
    assert result.rel_lift_ci is not None
    assert close(result.rel_lift_ci[0], -0.03526) and close(result.rel_lift_ci[1], 1.44989)
    assert close(result.p_value, 0.06191)


# --- Case 3: gbstats test_tests.py::test_two_sided_ttest_binom, 14/28 vs 16/30, relative.
def test_case3_binomial_relative_lift_with_welch_on_zero_one_data() -> None:
    a, b = ProportionStats(n=28, successes=14), ProportionStats(n=30, successes=16)
    result = compare_proportions(a, b, method="welch", relative=True)
    assert close(result.rel_lift, 0.06667)
    assert close(result.rel_lift_se, 0.27170)
    assert result.rel_lift_ci is not None
    assert close(result.rel_lift_ci[0], -0.47767) and close(result.rel_lift_ci[1], 0.61101)
    assert close(result.p_value, 0.80707)


# --- Case 4: gbstats test_tests.py::test_sequential_test_runs_prop, N* = 5000.
CASE4_A, CASE4_B = ProportionStats(n=3000, successes=1396), ProportionStats(n=3461, successes=2422)


def test_case4_sequential_confidence_sequence_for_relative_lift() -> None:
    result = sequential_proportions(CASE4_A, CASE4_B, alpha=0.05, n_star=5000, relative=True)
    assert close(result.rho, 0.039840)
    assert close(result.estimate, 0.50386)
    assert close(result.se, 0.03386)
    assert close(result.ci[0], 0.40098) and close(result.ci[1], 0.60675)
    assert close(result.p_value, 0.0)
    assert result.decision is SequentialDecision.INCREASE


def test_case4_fixed_horizon_interval_is_narrower_than_the_sequence() -> None:
    # ab_stats.md §3.4: the fixed-horizon CI would be (0.43750, 0.57023) (normal quantile).
    fixed = compare_proportions(CASE4_A, CASE4_B, method="wald", relative=True)
    assert fixed.rel_lift_ci is not None
    assert close(fixed.rel_lift_ci[0], 0.43750) and close(fixed.rel_lift_ci[1], 0.57023)


# --- Case 5: gbstats tests/bayesian/test_tests.py::test_bayesian_binomial_ab_test, flat prior.
def test_case5_bayesian_binomial_with_flat_prior() -> None:
    a, b = ProportionStats(n=100, successes=49), ProportionStats(n=100, successes=51)
    result = bayesian_effect(a, b)
    assert close(result.expected, 0.04082)
    assert close(result.sd, 0.14725)
    assert close(result.credible_interval[0], -0.24779)
    assert close(result.credible_interval[1], 0.32943)
    assert close(result.chance_to_win, 0.60918)
    assert close(result.risk_a, 0.0814) and close(result.risk_b, 0.04058)


# --- Case 6: scipy.stats.chisquare docs; gbstats check_srm uses the same formula.
def test_case6_srm_goodness_of_fit() -> None:
    result = srm_check([16, 18, 16, 14, 12, 12], [1, 1, 1, 1, 1, 1])
    assert result.chi2 == pytest.approx(2.0, abs=1e-12)
    assert result.p_value == pytest.approx(0.8491450360846096, abs=1e-12)
    assert not result.mismatch


# --- Case 7: scipy.stats.mannwhitneyu docs example.
def test_case7_mann_whitney_exact_and_asymptotic() -> None:
    x, y = [19, 22, 16, 29, 24], [20, 11, 17, 12]
    exact = mann_whitney(x, y)
    assert exact.u_statistic == 17.0
    assert close(exact.p_value, 0.1111111)
    asymptotic = mann_whitney(x, y, method="asymptotic")
    assert asymptotic.p_value == pytest.approx(0.11134688653314041, abs=1e-12)


# --- Case 8: scipy false_discovery_control docs (Benjamini & Hochberg 1995 data).
def test_case8_benjamini_hochberg_adjustment() -> None:
    pvalues = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459]
    pvalues += [0.324, 0.4262, 0.5719, 0.6528, 0.759, 1.0]
    expected = [0.0015, 0.003, 0.0095, 0.0356, 0.0603, 0.0639, 0.0639, 0.0645, 0.0765]
    expected += [0.486, 0.5812, 0.7149, 0.7532, 0.8132, 1.0]
    adjusted = adjust_pvalues(pvalues, method="bh")
    assert [round(p, 4) for p in adjusted] == expected
    assert sum(p < 0.05 for p in adjusted) == 4


# --- Case 9: statsmodels TTestIndPower.solve_power and R pwr.t.test, d = 0.5.
def test_case9_sample_size_for_half_sd_effect() -> None:
    size = sample_size_means(sd=1.0, mde=0.5, alpha=0.05, power=0.8)
    assert round(size.n_a_exact, 4) == 63.7656  # the anchor's 4 decimals
    # statsmodels 0.15 TTestIndPower().solve_power(0.5, alpha=0.05, power=0.8) = 63.76561058891169
    assert close(size.n_a_exact, 63.76561058891169)
    assert size.n_a == size.n_b == 64

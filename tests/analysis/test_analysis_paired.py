"""Paired evaluations: McNemar and paired t."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from analysis import MeanStats, Method, Status, mcnemar, paired_t, paired_t_from_stats


def test_mcnemar_asymptotic_matches_agresti_presidential_approval() -> None:
    # Agresti, Categorical Data Analysis (2002) §10.1: table [[794, 150], [86, 570]],
    # McNemar z^2 = 17.36 (uncorrected). statsmodels 0.15 mcnemar(exact=False,
    # correction=False): 17.35593220338983, p = 3.099293441045215e-05.
    result = mcnemar(150, 86, exact=False, correction=False)
    assert result.statistic == pytest.approx(17.35593220338983, abs=1e-12)
    assert result.p_value == pytest.approx(3.099293441045215e-05, rel=1e-9)


def test_mcnemar_exact_and_corrected_match_statsmodels() -> None:
    # statsmodels 0.15 mcnemar([[794, 150], [86, 570]]): exact p = 3.7159361395713866e-05;
    # exact=False (Edwards-corrected): chi2 = 16.81779661016949, p = 4.114562281345944e-05;
    # mcnemar([[10, 7], [2, 5]], exact=True): p = 0.1796875.
    assert mcnemar(150, 86).p_value == pytest.approx(3.7159361395713866e-05, rel=1e-9)
    corrected = mcnemar(150, 86, exact=False)
    assert corrected.statistic == pytest.approx(16.81779661016949)
    assert corrected.p_value == pytest.approx(4.114562281345944e-05, rel=1e-9)
    assert mcnemar(7, 2).p_value == pytest.approx(0.1796875)


def binomial_half_tail(n: int, below: int) -> Fraction:
    """P(X <= below) for X ~ Binomial(n, 1/2), exactly."""
    return Fraction(sum(math.comb(n, k) for k in range(below + 1)), 2**n)


def test_mcnemar_mid_p_halves_the_observed_point_of_the_exact_test() -> None:
    # b = 8, c = 2: X ~ Binomial(10, 1/2). Exact one-sided P(X <= 2) = 56/1024 = 0.0547;
    # mid-p = P(X < 2) + P(X = 2) / 2 = (11 + 45/2) / 1024 = 33.5/1024 = 0.0327.
    exact = mcnemar(8, 2, alternative="less")
    mid = mcnemar(8, 2, alternative="less", mid_p=True)

    assert binomial_half_tail(10, 2) == Fraction(56, 1024)
    assert exact.p_value == pytest.approx(56 / 1024, rel=1e-12) and not exact.significant
    assert mid.p_value == pytest.approx(33.5 / 1024, rel=1e-12) and mid.significant
    assert (mid.mid_p, exact.mid_p, mid.exact) == (True, False, True)


def test_mcnemar_mid_p_matches_fagerland_lydersen_laake_2013() -> None:
    # Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91, worked example (airway
    # hyper-responsiveness before and after stem cell transplantation, b = 1, c = 7):
    # exact conditional p = 0.070, mid-p = 0.039. By hand: 2 * 9/256 and 2 * (1 + 8/2)/256.
    assert round(mcnemar(1, 7).p_value, 3) == 0.070
    assert round(mcnemar(1, 7, mid_p=True).p_value, 3) == 0.039
    assert mcnemar(1, 7, mid_p=True).p_value == pytest.approx(10 / 256, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(0, 5), (3, 3), (12, 4), (4, 12), (40, 25), (1, 0)])
def test_mcnemar_mid_p_equals_its_exact_binomial_definition(b: int, c: int) -> None:
    n = b + c
    point = Fraction(math.comb(n, c), 2**n)
    below = binomial_half_tail(n, c) - point / 2  # P(X < c) + P(X = c) / 2
    above = 1 - binomial_half_tail(n, c) + point / 2  # P(X > c) + P(X = c) / 2
    two_sided = min(Fraction(1), 2 * min(below, above))
    for alternative, expected in (("less", below), ("greater", above), ("two-sided", two_sided)):
        result = mcnemar(b, c, mid_p=True, alternative=alternative)
        assert result.p_value == pytest.approx(float(expected), rel=1e-12, abs=1e-15)


def test_mid_p_without_the_exact_test_is_misuse() -> None:
    with pytest.raises(ValueError, match="mid_p"):
        mcnemar(8, 2, exact=False, mid_p=True)


def test_mcnemar_one_sided_favours_the_candidate_when_c_exceeds_b() -> None:
    better = mcnemar(10, 30, alternative="greater")
    assert better.significant and better.p_value < mcnemar(10, 30).p_value
    assert not mcnemar(10, 30, alternative="less").significant


def test_mcnemar_without_discordant_pairs_is_coded() -> None:
    result = mcnemar(0, 0)
    assert result.status is Status.ZERO_VARIANCE and result.p_value == 1.0


@pytest.mark.parametrize(("b", "c"), [(-1, 3), (2.5, 3), (True, 3)])
def test_mcnemar_rejects_impossible_counts(b: float, c: int) -> None:
    with pytest.raises(ValueError):
        mcnemar(b, c)  # type: ignore[arg-type]


def test_paired_t_matches_scipy_ttest_rel() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(0.7, 0.1, 200)
    y = x + rng.normal(0.01, 0.05, 200)
    reference = stats.ttest_rel(y, x)
    result = paired_t(x, y)
    assert result.method is Method.PAIRED_T
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.diff_ci == pytest.approx(tuple(reference.confidence_interval()), rel=1e-9)


def test_pairing_gives_more_power_than_ignoring_it() -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(0.7, 0.2, 100)
    y = x + rng.normal(0.02, 0.03, 100)
    assert paired_t(x, y).p_value < stats.ttest_ind(y, x).pvalue


def test_paired_relative_lift_interval_contains_the_lift() -> None:
    rng = np.random.default_rng(13)
    x = rng.normal(10.0, 1.0, 300)
    y = 1.05 * x + rng.normal(0.0, 0.2, 300)
    result = paired_t(x, y)
    assert result.rel_lift_ci is not None and result.rel_lift is not None
    assert result.rel_lift_ci[0] < 0.05 < result.rel_lift_ci[1]


# Student's sleep data (Cushny & Peebles 1905, as printed by Student 1908): extra hours of
# sleep of ten patients under two drugs. R's datasets::sleep documents the published result
# of t.test(extra ~ group, data = sleep, paired = TRUE): t = -4.0621, df = 9,
# p-value = 0.002833, 95% CI (-2.4598858, -0.7001142), mean difference -1.58 (group 1 - 2).
SLEEP_DRUG_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_DRUG_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_paired_t_reproduces_students_sleep_data() -> None:
    result = paired_t(SLEEP_DRUG_1, SLEEP_DRUG_2)  # drug 2 - drug 1: the signs flip

    assert round(result.statistic or 0.0, 4) == 4.0621 and result.dof == 9
    assert round(result.p_value, 6) == 0.002833
    assert result.diff == pytest.approx(1.58)
    assert result.diff_ci == pytest.approx((0.7001142, 2.4598858), abs=5e-8)


def test_paired_t_from_sufficient_statistics_reproduces_the_sleep_data_result() -> None:
    # What SQL would hand over, summed by hand from the table above: COUNT, SUM, SUM(x^2)
    # of drug 1, drug 2 and of the differences.
    result = paired_t_from_stats(
        MeanStats(n=10, sum=7.5, sum_sq=34.43),
        MeanStats(n=10, sum=23.3, sum_sq=90.37),
        MeanStats(n=10, sum=15.8, sum_sq=38.58),
    )

    assert round(result.statistic or 0.0, 4) == 4.0621 and round(result.p_value, 6) == 0.002833
    assert result.diff_ci == pytest.approx((0.7001142, 2.4598858), abs=5e-8)


def test_paired_data_conditions_are_coded() -> None:
    assert paired_t([], []).status is Status.EMPTY_INPUT
    assert paired_t([1.0], [2.0]).status is Status.TOO_FEW_SAMPLES
    assert paired_t([1.0, 2.0], [2.0, 3.0]).status is Status.ZERO_VARIANCE


def test_unequal_lengths_raise() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        paired_t([1.0, 2.0], [1.0])

"""Paired evaluations: McNemar and paired t."""

from __future__ import annotations

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


def test_paired_t_from_sufficient_statistics_equals_values_path() -> None:
    x, y = [0.5, 0.7, 0.9, 0.4], [0.6, 0.75, 0.95, 0.52]
    d = [b - a for a, b in zip(x, y, strict=True)]
    from_stats = paired_t_from_stats(
        MeanStats.from_values(x), MeanStats.from_values(y), MeanStats.from_values(d)
    )
    assert from_stats == paired_t(x, y)


def test_paired_data_conditions_are_coded() -> None:
    assert paired_t([], []).status is Status.EMPTY_INPUT
    assert paired_t([1.0], [2.0]).status is Status.TOO_FEW_SAMPLES
    assert paired_t([1.0, 2.0], [2.0, 3.0]).status is Status.ZERO_VARIANCE


def test_unequal_lengths_raise() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        paired_t([1.0, 2.0], [1.0])

"""Bayesian read-out: gbstats reference numbers, priors, data conditions."""

from __future__ import annotations

import pytest

from analysis import GaussianPrior, MeanStats, ProportionStats, Status, bayesian_effect

A = MeanStats(n=10, sum=100.0, sum_sq=1002.25)
B = MeanStats(n=10, sum=105.0, sum_sq=1111.5)


def rounded(values: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(round(v, 5) for v in values)


def test_gaussian_means_match_gbstats() -> None:
    # gbstats tests/bayesian/test_tests.py::test_bayesian_gaussian_ab_test.
    r = bayesian_effect(A, B)
    assert rounded((r.expected, r.sd, *r.credible_interval)) == (0.05, 0.03572, -0.02, 0.12)
    assert rounded((r.chance_to_win, r.risk_a, r.risk_b)) == (0.91923, 0.05131, 0.00131)


def test_informative_prior_matches_gbstats() -> None:
    # gbstats test_bayesian_gaussian_ab_test_informative: prior N(0.1, 0.1), proper.
    r = bayesian_effect(A, B, prior=GaussianPrior(mean=0.1, variance=0.1))
    assert rounded((r.expected, r.sd, *r.credible_interval)) == (
        0.05063,
        0.03549,
        -0.01893,
        0.12019,
    )
    assert rounded((r.chance_to_win, r.risk_a, r.risk_b)) == (0.92315, 0.05186, 0.00123)


def test_chance_to_win_is_not_one_minus_p() -> None:
    a, b = ProportionStats(1000, 100), ProportionStats(1000, 120)
    result = bayesian_effect(a, b, relative=False)
    assert 0.5 < result.chance_to_win < 1.0
    assert result.risk_a > result.risk_b


def test_missing_data_is_uninformative_and_coded() -> None:
    result = bayesian_effect(ProportionStats(0, 0), ProportionStats(0, 0))
    assert result.status is Status.EMPTY_INPUT
    assert result.chance_to_win == 0.5 and result.risk_a == result.risk_b == 0.0


def test_mixed_statistic_types_raise() -> None:
    with pytest.raises(ValueError):
        bayesian_effect(ProportionStats(10, 1), MeanStats(10, 1.0, 1.0))
    with pytest.raises(ValueError):
        GaussianPrior(variance=0.0)

"""Sequential looks: gbstats reference numbers, duality of p-value and interval, edges."""

from __future__ import annotations

import math

import pytest

from analysis import (
    MeanStats,
    ProportionStats,
    SequentialDecision,
    Status,
    sequential_means,
    sequential_proportions,
)


def test_means_sequence_matches_gbstats_with_tuning_1000() -> None:
    # gbstats tests/frequentist/test_tests.py::test_sequential_test_runs (N* = 1000, relative):
    # expected 0.50336, SE 0.33341, CI (-0.55844, 1.56516), p = 1.
    a = MeanStats(n=3000, sum=1396.87, sum_sq=52377.9767)
    b = MeanStats(n=3461, sum=2422.7, sum_sq=134698.29)
    result = sequential_means(a, b, n_star=1000, relative=True)
    assert round(result.estimate, 5) == 0.50336
    assert round(result.se, 5) == 0.33341
    assert (round(result.ci[0], 5), round(result.ci[1], 5)) == (-0.55844, 1.56516)
    assert result.p_value == 1.0 and result.decision is SequentialDecision.CONTINUE


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("successes_b", [100, 118, 125, 140, 80])
def test_p_value_is_below_alpha_exactly_when_interval_excludes_margin(
    alternative: str, successes_b: int
) -> None:
    a, b = ProportionStats(2000, 100), ProportionStats(2000, successes_b)
    for margin in (0.0, 0.005, -0.005):
        result = sequential_proportions(a, b, alternative=alternative, margin=margin)
        excluded = not (result.ci[0] <= margin <= result.ci[1])
        assert (result.p_value < result.alpha) == excluded == result.significant


def test_sequence_is_wider_than_the_fixed_horizon_interval() -> None:
    a, b = ProportionStats(3000, 300), ProportionStats(3000, 345)
    sequential = sequential_proportions(a, b)
    fixed_half = 1.959964 * sequential.se
    assert sequential.ci[1] - sequential.estimate > fixed_half


def test_one_sided_sequence_is_half_open_and_decides_one_way() -> None:
    a, b = ProportionStats(20_000, 1000), ProportionStats(20_000, 1300)
    greater = sequential_proportions(a, b, alternative="greater")
    assert greater.ci[1] == math.inf and greater.decision is SequentialDecision.INCREASE
    less = sequential_proportions(a, b, alternative="less")
    assert less.ci[0] == -math.inf and less.decision is SequentialDecision.CONTINUE
    assert less.p_value == 1.0


def test_clear_decrease_is_reported_as_decrease() -> None:
    a, b = ProportionStats(20_000, 1300), ProportionStats(20_000, 1000)
    assert sequential_proportions(a, b).decision is SequentialDecision.DECREASE


def test_looks_without_data_continue_with_a_coded_status() -> None:
    result = sequential_proportions(ProportionStats(0, 0), ProportionStats(10, 1))
    assert result.status is Status.EMPTY_INPUT
    assert result.decision is SequentialDecision.CONTINUE and result.p_value == 1.0
    no_events = sequential_means(MeanStats(5, 5.0, 5.0), MeanStats(5, 5.0, 5.0))
    assert no_events.status is Status.ZERO_VARIANCE and not no_events.significant


@pytest.mark.parametrize(
    "kwargs",
    [{"n_star": 0}, {"n_star": math.inf}, {"alpha": 0.6, "alternative": "greater"}, {"alpha": 0}],
)
def test_misuse_raises_value_error(kwargs: dict[str, float | str]) -> None:
    with pytest.raises(ValueError):
        sequential_proportions(ProportionStats(10, 1), ProportionStats(10, 2), **kwargs)  # type: ignore[arg-type]

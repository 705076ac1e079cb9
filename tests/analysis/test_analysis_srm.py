"""srm_check: configured splits, zero-weight arms, practical-size guard, misuse."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from analysis import Status, srm_check


def test_unequal_configured_split_is_respected() -> None:
    # 90/10 split observed as 9040 / 960: chi2 against 9000 / 1000 expected.
    result = srm_check([9040, 960], [0.9, 0.1])
    reference = stats.chisquare([9040, 960], [9000, 1000])
    assert result.chi2 == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.expected_counts == pytest.approx((9000.0, 1000.0))
    assert not result.mismatch


def test_clear_mismatch_is_flagged_below_threshold() -> None:
    result = srm_check([5000, 5400], [1, 1])
    assert result.p_value < 0.001 and result.mismatch


def test_min_deviation_suppresses_alerts_for_tiny_gaps_at_huge_n() -> None:
    counts = [10_050_000, 9_950_000]  # p ~ 1e-112 but only 0.25 points off 50/50
    assert srm_check(counts, [1, 1]).mismatch
    guarded = srm_check(counts, [1, 1], min_deviation=0.005)
    assert guarded.max_deviation == pytest.approx(0.0025)
    assert not guarded.mismatch


def test_traffic_in_a_zero_weight_arm_is_a_mismatch() -> None:
    result = srm_check([500, 480, 3], [1, 1, 0])
    assert result.mismatch and result.chi2 == math.inf and result.p_value == 0.0
    assert result.reason


def test_traffic_in_a_zero_weight_arm_is_a_mismatch_whatever_the_practical_size_guard() -> None:
    result = srm_check([10, 3], [1, 0], min_deviation=0.5)
    assert (result.status, result.mismatch, result.p_value) == (Status.OK, True, 0.0)


def test_no_units_is_coded_empty() -> None:
    result = srm_check([0, 0], [1, 1])
    assert result.status is Status.EMPTY_INPUT and not result.mismatch and result.p_value == 1.0
    assert srm_check([0, 0], [1, 0]).status is Status.EMPTY_INPUT


@pytest.mark.parametrize(("counts", "weights"), [([10, 0], [1, 0]), ([0, 7, 0], [0, 2, 0])])
def test_a_split_with_one_live_arm_has_nothing_to_test_and_says_so(
    counts: list[int], weights: list[float]
) -> None:
    result = srm_check(counts, weights)
    assert result.status is Status.SINGLE_ARM and "only one arm" in result.reason
    assert (result.chi2, result.p_value, result.dof, result.mismatch) == (0.0, 1.0, 0, False)
    assert result.expected_counts == tuple(float(c) for c in counts)


def test_huge_weights_are_shares_like_any_others() -> None:
    # 1e308 + 1e308 overflows a float; the split is still 50/50.
    result = srm_check([5000, 5400], [1e308, 1e308])
    reference = stats.chisquare([5000, 5400])
    assert result.expected_counts == (5200.0, 5200.0)
    assert result.p_value == pytest.approx(reference.pvalue) and result.mismatch


@pytest.mark.parametrize(
    ("counts", "weights", "kwargs"),
    [
        ([10, -1], [1, 1], {}),
        ([10, 2.5], [1, 1], {}),
        ([10, 10], [1, 1, 1], {}),
        ([10], [1], {}),
        ([10, 10], [1, -1], {}),
        ([10, 10], [0, 0], {}),
        ([10, 10], [1, 1], {"threshold": 0.0}),
        ([10, 10], [1, 1], {"min_deviation": 1.5}),
    ],
)
def test_misuse_raises_value_error(
    counts: list[float], weights: list[float], kwargs: dict[str, float]
) -> None:
    with pytest.raises(ValueError):
        srm_check(counts, weights, **kwargs)  # type: ignore[arg-type]

"""judge_canary: pass / fail / inconclusive with reasons, under CanaryPolicy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis import (
    ArmStats,
    CanaryPolicy,
    CheckName,
    CheckReason,
    CheckResult,
    MeanStats,
    ProportionStats,
    VerdictStatus,
    judge_canary,
    mann_whitney,
)
from tests.analysis.farrington_manning import fm_z, score_bound

POLICY = CanaryPolicy(min_samples=500, max_error_rate_increase=0.01)
ERRORS_ONLY = {"min_samples": 500, "max_latency_increase_ratio": None}


def latency(seed: int, n: int, mean: float = 200.0, sd: float = 40.0) -> MeanStats:
    return MeanStats.from_values(np.random.default_rng(seed).normal(mean, sd, n).tolist())


def arm(n: int, errors: int, seed: int, mean_latency: float = 200.0) -> ArmStats:
    return ArmStats(ProportionStats(n, errors), latency_ms=latency(seed, n, mean_latency))


def test_canary_two_points_worse_in_error_rate_fails_with_a_reason() -> None:
    verdict = judge_canary(arm(5000, 100, 1), arm(5000, 200, 2), POLICY)
    assert verdict.status is VerdictStatus.FAIL
    failing = [c for c in verdict.checks if c.outcome is VerdictStatus.FAIL]
    assert [c.name for c in failing] == [CheckName.ERROR_RATE]
    assert failing[0].reason is CheckReason.WORSE_THAN_MARGIN
    assert failing[0].interval is not None and failing[0].interval[0] > 0.01
    assert verdict.reasons and verdict.reasons[0].startswith("error_rate:")


def test_equal_canary_with_enough_traffic_passes() -> None:
    verdict = judge_canary(arm(5000, 100, 3), arm(5000, 98, 4), POLICY)
    assert verdict.status is VerdictStatus.PASS
    assert {c.reason for c in verdict.checks} == {CheckReason.NON_INFERIOR}
    assert len(verdict.reasons) == 2


def test_no_errors_in_either_arm_passes_once_the_margin_is_shown() -> None:
    zero = ArmStats(ProportionStats(1000, 0), latency_ms=latency(5, 1000))
    assert judge_canary(zero, zero, POLICY).status is VerdictStatus.PASS


def test_an_error_rate_fail_shows_the_score_interval_its_test_inverts() -> None:
    # Baseline 0/500, canary 9/500, margin 0.01. Farrington-Manning, computed independently
    # (tests/analysis/farrington_manning.py): z = 1.79787 > z_0.95, p = 0.0361, so the canary
    # is shown to err more than 0.01 above the baseline. The interval shown is the one that
    # test inverts, and its low end clears the margin; Newcombe's would be [0.00877, 0.03069].
    policy = CanaryPolicy(max_error_rate_increase=0.01, **ERRORS_ONLY)  # type: ignore[arg-type]
    verdict = judge_canary(
        ArmStats(ProportionStats(500, 0)), ArmStats(ProportionStats(500, 9)), policy
    )

    [check] = verdict.checks
    z = float(stats.norm.ppf(0.95))
    low, high = score_bound(0, 500, 9, 500, z), score_bound(0, 500, 9, 500, -z)
    assert (round(low, 5), round(high, 5)) == (0.0105, 0.03069)
    assert check.outcome is VerdictStatus.FAIL and check.reason is CheckReason.WORSE_THAN_MARGIN
    assert check.interval == pytest.approx((low, high), abs=1e-10)
    assert check.p_value_fail == pytest.approx(float(stats.norm.sf(fm_z(0, 500, 9, 500, 0.01))))
    assert check.detail == (
        "change +0.018 (absolute), interval [0.0105, 0.03069] exceeds the margin +0.01"
    )


@given(
    n=st.integers(min_value=500, max_value=20_000),
    base_rate=st.floats(min_value=0.0, max_value=0.2),
    canary_rate=st.floats(min_value=0.0, max_value=0.2),
    margin=st.floats(min_value=0.0, max_value=0.05),
)
@settings(max_examples=100, deadline=None, database=None, derandomize=True)
def test_the_error_rate_outcome_is_where_its_interval_lies_against_the_margin(
    n: int, base_rate: float, canary_rate: float, margin: float
) -> None:
    policy = CanaryPolicy(max_error_rate_increase=margin, **ERRORS_ONLY)  # type: ignore[arg-type]
    baseline = ArmStats(ProportionStats(n, round(base_rate * n)))
    canary = ArmStats(ProportionStats(n, round(canary_rate * n)))
    [check] = judge_canary(baseline, canary, policy).checks
    if check.reason is CheckReason.NOT_COMPUTABLE:
        return
    assert check.interval is not None
    low, high = check.interval
    expected = (
        VerdictStatus.FAIL
        if low > margin
        else VerdictStatus.PASS
        if high < margin
        else VerdictStatus.INCONCLUSIVE
    )
    assert check.outcome is expected


@pytest.mark.parametrize(
    ("baseline", "canary"),
    [
        ((500, 0), (500, 9)),
        ((2000, 20), (2000, 60)),
        ((1654, 24), (1654, 43)),
        ((600, 3), (900, 25)),
    ],
)
def test_the_margins_where_the_error_verdict_changes_are_the_interval_it_shows(
    baseline: tuple[int, int], canary: tuple[int, int]
) -> None:
    arms = ArmStats(ProportionStats(*baseline)), ArmStats(ProportionStats(*canary))

    def check(margin: float) -> CheckResult:
        policy = CanaryPolicy(max_error_rate_increase=margin, **ERRORS_ONLY)  # type: ignore[arg-type]
        return judge_canary(*arms, policy).checks[0]

    def switch(low: float, high: float, before: VerdictStatus) -> float:
        """The margin in [low, high] where the outcome stops being `before` (bisection)."""
        for _ in range(60):
            middle = (low + high) / 2.0
            low, high = (middle, high) if check(middle).outcome is before else (low, middle)
        return (low + high) / 2.0

    diff = canary[1] / canary[0] - baseline[1] / baseline[0]
    shown = check(0.01).interval  # the interval does not depend on the margin
    assert shown is not None
    stops_failing = switch(0.0, diff, VerdictStatus.FAIL)
    starts_passing = switch(diff, 0.999, VerdictStatus.INCONCLUSIVE)
    assert shown == pytest.approx((stops_failing, starts_passing), abs=1e-9)


def test_margin_zero_passes_only_a_canary_shown_to_err_less() -> None:
    policy = CanaryPolicy(max_error_rate_increase=0.0, **ERRORS_ONLY)  # type: ignore[arg-type]

    def outcome(base: int, canary: int, n: int = 50_000) -> CheckResult:
        arms = ArmStats(ProportionStats(n, base)), ArmStats(ProportionStats(n, canary))
        [check] = judge_canary(*arms, policy).checks
        return check

    assert outcome(1000, 800).outcome is VerdictStatus.PASS
    assert outcome(800, 1000).outcome is VerdictStatus.FAIL
    assert outcome(1000, 1000).outcome is VerdictStatus.INCONCLUSIVE  # parity is never shown
    assert outcome(1000, 1000).reason is CheckReason.NEED_MORE_DATA
    assert outcome(0, 0).reason is CheckReason.NOT_COMPUTABLE


def test_too_little_traffic_is_inconclusive_never_a_silent_pass() -> None:
    verdict = judge_canary(arm(5000, 100, 6), arm(120, 0, 7), POLICY)
    assert verdict.status is VerdictStatus.INCONCLUSIVE
    assert verdict.checks[0].reason is CheckReason.BELOW_MIN_SAMPLES
    assert "need 500" in verdict.reasons[0]


def test_borderline_canary_is_inconclusive_until_more_data() -> None:
    verdict = judge_canary(arm(600, 12, 8), arm(600, 16, 9), POLICY)
    assert verdict.status is VerdictStatus.INCONCLUSIVE
    error_check = verdict.checks[0]
    assert error_check.reason is CheckReason.NEED_MORE_DATA
    assert error_check.p_value_pass is not None and error_check.p_value_pass >= POLICY.alpha


def test_missing_latency_data_is_inconclusive() -> None:
    no_latency = ArmStats(ProportionStats(5000, 100))
    verdict = judge_canary(no_latency, no_latency, POLICY)
    assert verdict.status is VerdictStatus.INCONCLUSIVE
    assert verdict.checks[1].reason is CheckReason.MISSING_DATA


def test_latency_slower_than_the_ratio_margin_fails() -> None:
    verdict = judge_canary(arm(5000, 100, 10), arm(5000, 100, 11, mean_latency=240.0), POLICY)
    assert verdict.status is VerdictStatus.FAIL
    assert [c.name for c in verdict.checks if c.outcome is VerdictStatus.FAIL] == [
        CheckName.LATENCY
    ]


def test_latency_margin_in_milliseconds() -> None:
    policy = CanaryPolicy(max_latency_increase_ratio=None, max_latency_increase_ms=10.0)
    slower = judge_canary(arm(5000, 100, 12), arm(5000, 100, 13, mean_latency=225.0), policy)
    assert slower.status is VerdictStatus.FAIL
    close = judge_canary(arm(5000, 100, 12), arm(5000, 100, 14, mean_latency=201.0), policy)
    assert close.status is VerdictStatus.PASS


def test_p95_check_catches_a_tail_blow_up_that_mann_whitney_misses() -> None:
    # kayenta#780: a rank test misses a latency variance blow-up; a p95 margin does not.
    rng = np.random.default_rng(15)
    base = rng.normal(200.0, 20.0, 4000)
    canary = 200.0 + (rng.normal(0.0, 20.0, 4000) * np.where(rng.random(4000) < 0.15, 10.0, 1.0))
    assert not mann_whitney(base, canary).p_value < 0.05
    policy = CanaryPolicy(latency_quantile=0.95, max_latency_increase_ratio=0.10)
    verdict = judge_canary(
        ArmStats(ProportionStats(4000, 40), latency_samples_ms=tuple(base)),
        ArmStats(ProportionStats(4000, 40), latency_samples_ms=tuple(canary)),
        policy,
    )
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.checks[1].name is CheckName.LATENCY and "relative" in verdict.checks[1].detail


def test_quality_drop_beyond_margin_fails_and_small_drop_passes() -> None:
    policy = CanaryPolicy(max_latency_increase_ratio=None, max_quality_decrease=0.02)
    rng = np.random.default_rng(16)

    def scored(mean: float) -> ArmStats:
        scores = np.clip(rng.normal(mean, 0.15, 3000), 0.0, 1.0)
        return ArmStats(ProportionStats(3000, 30), quality=MeanStats.from_values(scores.tolist()))

    assert judge_canary(scored(0.80), scored(0.75), policy).status is VerdictStatus.FAIL
    assert judge_canary(scored(0.80), scored(0.80), policy).status is VerdictStatus.PASS
    missing = judge_canary(ArmStats(ProportionStats(3000, 30)), scored(0.8), policy)
    assert missing.status is VerdictStatus.INCONCLUSIVE


def test_planned_looks_split_alpha() -> None:
    policy = CanaryPolicy(planned_looks=4)
    verdict = judge_canary(arm(5000, 100, 17), arm(5000, 100, 18), policy)
    assert verdict.alpha_per_test == pytest.approx(0.0125)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 1.0},
        {"min_samples": 1},
        {"planned_looks": 0},
        {"max_error_rate_increase": -0.01},
        {"max_latency_increase_ratio": 0.1, "max_latency_increase_ms": 5.0},
        {"max_latency_increase_ratio": float("nan")},
        {"latency_quantile": 1.0},
        {"max_quality_decrease": -0.1},
    ],
)
def test_invalid_policy_raises(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CanaryPolicy(**kwargs)  # type: ignore[arg-type]


def test_wrong_arm_type_raises() -> None:
    with pytest.raises(ValueError, match="ArmStats"):
        judge_canary(ProportionStats(10, 1), arm(10, 1, 1), POLICY)  # type: ignore[arg-type]

"""The verdict of a look, from sufficient statistics: which check wins when, in what order."""

from __future__ import annotations

from typing import Any

from registry.abtests import Decision, Plan, VerdictKind
from registry.abtests.domain import (
    ArmData,
    HistogramData,
    MeanData,
    ProportionData,
    UnusableData,
)
from registry.abtests.judge import judge_look
from tests.registry.abtest_support import definition

PLAN = Plan(
    baseline_minutes=60, baseline_requests=0, baseline=0.9, baseline_sd=None,
    requests_per_minute=0.0, fixed_n_a=1356, fixed_n_b=1356, n_a=2596, n_b=2596,
    n_star=5192.0, expected_minutes=None, note="",
)  # fmt: skip
LATENCY_A = {60: 9000, 80: 1000}  # p95 in bucket 80
LATENCY_WORSE = {60: 5000, 90: 5000}  # p95 in bucket 90: about 2.6 times slower


def arm(version: int, n: int, successes: int, **metrics: Any) -> ArmData:
    found: dict[str, Any] = {"success_rate": ProportionData(n=n, successes=successes)}
    found.update(metrics)
    return ArmData(version=version, requests=n, metrics=found)


def test_a_sample_ratio_mismatch_never_lets_a_winner_through() -> None:
    result = judge_look(definition(), PLAN, arm(1, 5000, 4500), arm(2, 4000, 3900))
    assert result.srm.mismatch and result.verdict is VerdictKind.INVALID_SRM
    assert result.primary.decision is Decision.B_BETTER  # however good b looks
    assert "a (v1) got 5000 requests and b (v2) 4000 for a 50/50 split" in result.reason


def test_nothing_is_decided_below_the_minimum_sample() -> None:
    result = judge_look(
        definition(min_sample_per_arm=500), PLAN, arm(1, 400, 300), arm(2, 400, 390)
    )
    assert result.verdict is None and "each arm needs 500" in result.reason
    final = judge_look(
        definition(min_sample_per_arm=500), PLAN, arm(1, 400, 300), arm(2, 400, 390), final=True
    )
    assert final.verdict is VerdictKind.INCONCLUSIVE


def test_a_guardrail_shown_worse_fails_the_test_even_when_b_leads() -> None:
    made = definition(guardrails=[{"metric": "latency_p95", "margin": 0.1, "relative": True}])
    a = arm(1, 10_000, 9000, latency_p95=HistogramData(counts=LATENCY_A))
    b = arm(2, 10_000, 9400, latency_p95=HistogramData(counts=LATENCY_WORSE))
    result = judge_look(made, PLAN, a, b)
    assert result.primary.decision is Decision.B_BETTER
    assert result.guardrails[0].decision is Decision.FAILED
    assert result.verdict is VerdictKind.GUARDRAIL_FAILED
    assert "guardrail latency_p95: b is worse than a beyond the margin" in result.reason


def test_b_wins_only_once_every_guardrail_is_shown_non_inferior() -> None:
    made = definition(guardrails=[{"metric": "quality", "margin": 0.01}])
    few = MeanData(n=30, sum=21.0, sum_sq=15.0)
    a, b = arm(1, 10_000, 9000, quality=few), arm(2, 10_000, 9400, quality=few)
    waiting = judge_look(made, PLAN, a, b)
    assert waiting.guardrails[0].decision is Decision.CONTINUE and waiting.verdict is None
    assert "b leads on success_rate but quality not shown non-inferior yet" in waiting.reason
    ended = judge_look(made, PLAN, a, b, final=True)
    assert ended.verdict is VerdictKind.INCONCLUSIVE
    assert ended.reason.startswith("the maximum duration came first: b leads")
    many = MeanData(n=10_000, sum=7000.0, sum_sq=5000.0)  # mean 0.7, sd about 0.1
    shown = judge_look(
        made, PLAN, arm(1, 10_000, 9000, quality=many), arm(2, 10_000, 9400, quality=many)
    )
    assert shown.guardrails[0].decision is Decision.NON_INFERIOR
    assert shown.verdict is VerdictKind.B_WINS


def test_a_wins_when_the_primary_favours_a() -> None:
    result = judge_look(definition(), PLAN, arm(1, 10_000, 9400), arm(2, 10_000, 9000))
    assert result.verdict is VerdictKind.A_WINS


def test_an_interval_inside_the_mde_is_no_difference() -> None:
    result = judge_look(definition(), PLAN, arm(1, 30_000, 27_000), arm(2, 30_000, 27_030))
    low, high = result.primary.diff_ci
    assert low is not None and high is not None and -0.03 < low < 0 < high < 0.03
    assert result.verdict is VerdictKind.NO_DIFFERENCE


def test_when_lower_is_better_b_lower_wins() -> None:
    made = definition(primary={"metric": "error_rate", "mde": 0.03})
    a = arm(1, 10_000, 9000, error_rate=ProportionData(n=10_000, successes=1000))
    b = arm(2, 10_000, 9400, error_rate=ProportionData(n=10_000, successes=600))
    assert judge_look(made, PLAN, a, b).verdict is VerdictKind.B_WINS


def test_a_fixed_horizon_test_is_judged_at_its_planned_sample_only() -> None:
    made = definition(mode="fixed")
    plan = PLAN.model_copy(update={"n_a": 1356, "n_b": 1356})  # a fixed plan: its own n
    early = judge_look(made, plan, arm(1, 1000, 850), arm(2, 1000, 950))
    assert early.verdict is None and early.primary.decision is Decision.NOT_JUDGED
    at = judge_look(made, plan, arm(1, 1356, 1150), arm(2, 1356, 1290))
    assert at.verdict is VerdictKind.B_WINS and at.primary.method == "z"


def test_a_rate_of_values_other_than_0_and_1_is_not_judged() -> None:
    made = definition(primary={"metric": "rate.thumbs_up", "mde": 0.05})
    bad = {"rate.thumbs_up": ProportionData(n=0, successes=0)}
    unusable = UnusableData(n=10, reason="rate.thumbs_up needs values 0 or 1")
    a = arm(1, 500, 450, **{"rate.thumbs_up": unusable})
    b = arm(2, 500, 450, **bad)
    result = judge_look(made, PLAN, a, b)
    assert result.primary.decision is Decision.NOT_JUDGED and result.verdict is None
    assert "needs values 0 or 1" in result.primary.why


def test_stopping_reports_the_interval_reached() -> None:
    result = judge_look(definition(), PLAN, arm(1, 800, 700), arm(2, 800, 720), stopped_by="bob")
    assert result.verdict is VerdictKind.STOPPED and result.final
    assert result.reason.startswith("stopped by bob before a verdict; b - a on success_rate is")

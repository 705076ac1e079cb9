"""A step's verdict from the two arms: `analysis.judge_canary` where the strategy compares
the candidate with a baseline, then the policy's absolute guards on the candidate alone.
Pure: sums in, verdict out. No data is never a pass."""

from __future__ import annotations

from dataclasses import dataclass

from analysis import CanaryPolicy, judge_canary
from analysis.canary import CheckResult
from registry.rollouts.arms import arm_stats, p95_ms
from registry.rollouts.domain import ArmSums, Check, RolloutPolicy, Strategy, Verdict

COMPARED = frozenset({Strategy.CANARY, Strategy.DIRECT, Strategy.BLUE_GREEN, Strategy.SHADOW})


@dataclass(frozen=True)
class StepVerdict:
    verdict: Verdict
    reasons: list[str]
    checks: list[Check]


def canary_policy(policy: RolloutPolicy) -> CanaryPolicy:
    """The analysis policy: every look of the rollout is tested at alpha / max_looks, so
    looking after every batch cannot inflate the chance of a false rollback past alpha."""
    return CanaryPolicy(
        min_samples=policy.min_samples,
        max_error_rate_increase=policy.max_error_rate_increase,
        max_latency_increase_ratio=policy.max_latency_increase_ratio,
        max_quality_decrease=policy.max_quality_decrease,
        alpha=policy.alpha,
        planned_looks=policy.max_looks,
    )


def judge_step(policy: RolloutPolicy, baseline: ArmSums, candidate: ArmSums) -> StepVerdict:
    checks: list[Check] = []
    if policy.strategy in COMPARED:
        verdict = judge_canary(arm_stats(baseline), arm_stats(candidate), canary_policy(policy))
        checks.extend(_check(c) for c in verdict.checks)
    elif candidate.requests < policy.min_samples:
        checks.append(
            Check(
                name="sample_size",
                outcome=Verdict.INCONCLUSIVE,
                reason="below_min_samples",
                detail=f"{candidate.requests} candidate requests; need {policy.min_samples}",
            )
        )
    if candidate.requests >= policy.min_samples:
        checks.extend(_guards(policy, candidate))
    return _combine(checks)


def _guards(policy: RolloutPolicy, candidate: ArmSums) -> list[Check]:
    """The absolute limits: the candidate's own error rate and p95 over the window."""
    found = []
    rate = candidate.error_rate
    if policy.max_error_rate is not None and rate is not None:
        over = rate > policy.max_error_rate
        found.append(
            Check(
                name="error_rate_limit",
                outcome=Verdict.FAIL if over else Verdict.PASS,
                reason="above_limit" if over else "within_limit",
                detail=f"error rate {rate:.2%} of {candidate.requests} requests "
                f"{'exceeds' if over else 'is within'} the limit {policy.max_error_rate:.2%}",
                estimate=rate,
                margin=policy.max_error_rate,
            )
        )
    p95 = p95_ms(candidate)
    if policy.max_p95_latency_ms is not None and p95 is not None:
        over = p95 > policy.max_p95_latency_ms
        found.append(
            Check(
                name="p95_latency_limit",
                outcome=Verdict.FAIL if over else Verdict.PASS,
                reason="above_limit" if over else "within_limit",
                detail=f"p95 latency {p95:.1f} ms {'exceeds' if over else 'is within'} the "
                f"limit {policy.max_p95_latency_ms:g} ms",
                estimate=p95,
                margin=policy.max_p95_latency_ms,
            )
        )
    return found


def _combine(checks: list[Check]) -> StepVerdict:
    outcomes = {check.outcome for check in checks}
    if Verdict.FAIL in outcomes:
        verdict = Verdict.FAIL
    elif outcomes == {Verdict.PASS}:
        verdict = Verdict.PASS
    else:
        verdict = Verdict.INCONCLUSIVE  # includes "nothing was checked": no data, no pass
    reasons = [f"{c.name}: {c.detail}" for c in checks if c.outcome is verdict]
    if not checks:
        reasons = ["nothing could be judged"]
    return StepVerdict(verdict, reasons, checks)


def _check(result: CheckResult) -> Check:
    return Check(
        name=result.name.value,
        outcome=Verdict(result.outcome.value),
        reason=result.reason.value,
        detail=result.detail,
        estimate=result.estimate,
        interval=result.interval,
        margin=result.margin,
    )

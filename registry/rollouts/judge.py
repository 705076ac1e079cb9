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
    rate, limit = candidate.error_rate, policy.max_error_rate
    if limit is not None and rate is not None:
        what = f"error rate {rate:.2%} of {candidate.requests} requests"
        found.append(limit_check("error_rate_limit", rate, limit, what, f"{limit:.2%}"))
    p95, most = p95_ms(candidate), policy.max_p95_latency_ms
    if most is not None and p95 is not None:
        what = f"p95 latency {p95:.1f} ms"
        found.append(limit_check("p95_latency_limit", p95, most, what, f"{most:g} ms"))
    return found


def limit_check(name: str, value: float, limit: float, what: str, shown: str) -> Check:
    """`value` against an absolute `limit`: above it fails, at or below it passes."""
    over = value > limit
    return Check(
        name=name,
        outcome=Verdict.FAIL if over else Verdict.PASS,
        reason="above_limit" if over else "within_limit",
        detail=f"{what} {'exceeds' if over else 'is within'} the limit {shown}",
        estimate=value,
        margin=limit,
    )


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

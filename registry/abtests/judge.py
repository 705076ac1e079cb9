"""One look at an A/B test: the sample-ratio check, every metric, and the verdict if the
data support one. Pure: sufficient statistics in, a `LookResult` out.

Order of the checks, at every look: a sample-ratio mismatch makes the test invalid and
never lets a winner through; below the minimum sample nothing is decided; a guardrail
shown worse than its margin fails the test; b wins only when the primary metric favours
it and every guardrail is shown non-inferior; a wins when the primary favours a; an
interval inside ±MDE means no difference. At the deadline the rest is inconclusive.
"""

from __future__ import annotations

import math

from analysis import srm_check
from registry.abtests.checks import Setting, check_guardrails, check_primary
from registry.abtests.definition import ABTestDefinition, Stopping
from registry.abtests.domain import (
    ArmData,
    Decision,
    LookResult,
    MetricResult,
    Plan,
    SrmSummary,
    VerdictKind,
)

# As gbstats and Eppo: p < 0.001; and, as Statsig, a deviation of more than 0.1 point of
# share, so that a huge sample does not alarm on a split that is right for every purpose.
SRM_THRESHOLD = 0.001
SRM_MIN_DEVIATION = 0.001


def judge_look(
    definition: ABTestDefinition,
    plan: Plan,
    a: ArmData,
    b: ArmData,
    *,
    final: bool = False,
    stopped_by: str | None = None,
) -> LookResult:
    """The look's statistics and verdict. `final`: the deadline is reached, so a verdict
    is given whatever the data; `stopped_by`: a person stopped the test."""
    srm = check_srm(definition, a, b)
    setting = _setting(definition, plan, a, b)
    primary = check_primary(definition, setting, a, b)
    guardrails = check_guardrails(definition, setting, a, b)
    verdict, reason = _verdict(definition, setting, srm, primary, guardrails, final, stopped_by)
    return LookResult(
        srm=srm,
        metrics=[primary, *guardrails],
        verdict=verdict,
        reason=reason,
        final=final or stopped_by is not None or verdict is not None,
    )


def check_srm(definition: ABTestDefinition, a: ArmData, b: ArmData) -> SrmSummary:
    weights = (definition.a.weight, definition.b.weight)
    found = srm_check(
        [a.requests, b.requests],
        list(weights),
        threshold=SRM_THRESHOLD,
        min_deviation=SRM_MIN_DEVIATION,
    )
    return SrmSummary(
        counts=(a.requests, b.requests),
        weights=weights,
        chi2=found.chi2 if math.isfinite(found.chi2) else None,
        p_value=found.p_value,
        mismatch=found.mismatch,
        max_deviation=found.max_deviation,
        threshold=found.threshold,
        status=found.status.value,
        reason=found.reason,
    )


def _setting(definition: ABTestDefinition, plan: Plan, a: ArmData, b: ArmData) -> Setting:
    """The fixed horizon is reached when both arms have the planned sample of the primary
    metric (an unknown plan has no horizon: the deadline ends the test)."""
    metric = definition.primary.metric
    horizon = False
    if plan.n_a is not None and plan.n_b is not None:
        horizon = a.metrics[metric].n >= plan.n_a and b.metrics[metric].n >= plan.n_b
    return Setting(
        alpha=definition.alpha, mode=definition.mode, n_star=plan.n_star, horizon=horizon
    )


def _verdict(
    definition: ABTestDefinition,
    setting: Setting,
    srm: SrmSummary,
    primary: MetricResult,
    guardrails: list[MetricResult],
    final: bool,
    stopped_by: str | None,
) -> tuple[VerdictKind | None, str]:
    if srm.mismatch:
        return VerdictKind.INVALID_SRM, _srm_reason(definition, srm)
    interval = _interval_text(primary)
    if stopped_by is not None:
        return VerdictKind.STOPPED, f"stopped by {stopped_by} before a verdict; {interval}"
    least = definition.min_sample_per_arm
    if min(primary.n_a, primary.n_b) < least:
        waiting = f"{primary.n_a} and {primary.n_b} units so far; each arm needs {least}"
        if final:
            return VerdictKind.INCONCLUSIVE, f"the maximum duration came first: {waiting}"
        return None, f"waiting: {waiting}"
    if definition.mode is Stopping.FIXED and not setting.horizon:
        if final:
            return VerdictKind.INCONCLUSIVE, (
                "the maximum duration came before the planned sample; a fixed-horizon test "
                f"is not judged early. For information, {interval}"
            )
        return None, f"fixed horizon: waiting for the planned sample; {interval}"
    end = None
    if final:
        end = "the maximum duration came first"
    elif definition.mode is Stopping.FIXED:
        end = "the fixed horizon is reached"
    return _decide(primary, guardrails, end, interval)


def _decide(
    primary: MetricResult, guardrails: list[MetricResult], end: str | None, interval: str
) -> tuple[VerdictKind | None, str]:
    """The verdict the metrics support; `end` says why this look must conclude, if it must."""
    failed = [g for g in guardrails if g.decision is Decision.FAILED]
    if failed:
        return VerdictKind.GUARDRAIL_FAILED, "; ".join(
            f"guardrail {g.metric}: {g.why}" for g in failed
        )
    pending = [g.metric for g in guardrails if g.decision is not Decision.NON_INFERIOR]
    if primary.decision is Decision.B_BETTER:
        if not pending:
            shown = " and every guardrail is shown non-inferior" if guardrails else ""
            return VerdictKind.B_WINS, f"{primary.metric}: {primary.why}{shown}; {interval}"
        waiting = f"b leads on {primary.metric} but {', '.join(pending)} not shown non-inferior"
        if end:
            return VerdictKind.INCONCLUSIVE, f"{end}: {waiting}; {interval}"
        return None, f"{waiting} yet; {interval}"
    if primary.decision is Decision.A_BETTER:
        return VerdictKind.A_WINS, f"{primary.metric}: {primary.why}; {interval}"
    if primary.decision is Decision.EQUIVALENT:
        return VerdictKind.NO_DIFFERENCE, f"{primary.metric}: {primary.why}; {interval}"
    if end:
        return VerdictKind.INCONCLUSIVE, f"{end}: {primary.metric}: {primary.why}; {interval}"
    return None, f"{primary.metric}: {primary.why}; {interval}"


def _srm_reason(definition: ABTestDefinition, srm: SrmSummary) -> str:
    a, b = definition.a, definition.b
    chi2 = "inf" if srm.chi2 is None else f"{srm.chi2:.4g}"
    return (
        f"sample ratio mismatch: a (v{a.version}) got {srm.counts[0]} requests and b "
        f"(v{b.version}) {srm.counts[1]} for a {a.weight}/{b.weight} split (chi-squared "
        f"{chi2}, p = {srm.p_value:.3g} < {srm.threshold:g}); assignment or outcome "
        "reporting is broken, so no comparison can be trusted and no winner is declared"
    )


def _interval_text(primary: MetricResult) -> str:
    low, high = primary.diff_ci
    lo = "-inf" if low is None else f"{low:.4g}"
    hi = "inf" if high is None else f"{high:.4g}"
    return f"b - a on {primary.metric} is {primary.diff:.4g}, interval [{lo}, {hi}]"

"""Each metric of a look, computed by `analysis` from the arms' sufficient statistics.

Sequential tests use the always-valid intervals (safe at every look); fixed-horizon tests
use the classic test and are judged only at the planned sample. Intervals are two-sided
at the test's alpha. Guardrails are tested against the worse side of their margin and
corrected together with Holm (always-valid p-values stay valid under Holm at every look:
the rejections at any look are among Holm's on the running minima, themselves valid).
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis import (
    Comparison,
    SequentialResult,
    adjust_pvalues,
    compare_means,
    compare_proportions,
    compare_quantiles,
    sequential_comparison,
    sequential_means,
    sequential_proportions,
)
from registry.abtests.definition import ABTestDefinition, Guardrail, PrimaryMetric, Stopping
from registry.abtests.domain import (
    ArmData,
    Decision,
    HistogramData,
    MeanData,
    MetricData,
    MetricResult,
    ProportionData,
    Role,
    UnusableData,
    finite,
)
from registry.abtests.metrics import Better, MetricInfo
from registry.abtests.samples import histogram_values, mean_stats, proportion_stats

SEQUENTIAL_METHOD = "always-valid (asymptotic confidence sequence)"


@dataclass(frozen=True)
class Setting:
    """What every metric's test shares at one look."""

    alpha: float
    mode: Stopping
    n_star: float
    horizon: bool  # fixed horizon: the planned sample is reached


@dataclass(frozen=True)
class _Tested:
    """A metric's numbers: the absolute and relative effects, and the p of the tested one."""

    method: str
    status: str
    reason: str
    n: tuple[int, int]
    estimates: tuple[float, float]
    diff: float
    diff_ci: tuple[float, float]
    rel: tuple[float, tuple[float, float]] | None
    p_value: float
    ok: bool


def check_primary(
    definition: ABTestDefinition, setting: Setting, a: ArmData, b: ArmData
) -> MetricResult:
    spec = definition.primary
    da, db = a.metrics[spec.metric], b.metrics[spec.metric]
    if isinstance(da, UnusableData) or isinstance(db, UnusableData):
        return _unusable(spec, Role.PRIMARY, da, db, spec.mde)
    tested = _test(spec.info, setting, da, db, boundary=0.0, relative=False)
    decision, why = _primary_decision(spec, setting, tested)
    return _result(spec, Role.PRIMARY, tested, spec.mde, False, 0.0, decision, why)


def check_guardrails(
    definition: ABTestDefinition, setting: Setting, a: ArmData, b: ArmData
) -> list[MetricResult]:
    tested: list[tuple[Guardrail, _Tested | None, float]] = []
    for spec in definition.guardrails:
        da, db = a.metrics[spec.metric], b.metrics[spec.metric]
        boundary = -spec.margin if spec.direction is Better.HIGHER else spec.margin
        usable = not isinstance(da, UnusableData) and not isinstance(db, UnusableData)
        found = _test(spec.info, setting, da, db, boundary, spec.relative) if usable else None
        tested.append((spec, found, boundary))
    pvalues = [t.p_value if t is not None else 1.0 for _, t, _ in tested]
    adjusted = adjust_pvalues(pvalues, method="holm")
    results = []
    for (spec, found, boundary), p_adjusted in zip(tested, adjusted, strict=True):
        if found is None:
            da, db = a.metrics[spec.metric], b.metrics[spec.metric]
            results.append(_unusable(spec, Role.GUARDRAIL, da, db, spec.margin))
            continue
        decision, why = _guardrail_decision(spec, setting, found, boundary, p_adjusted)
        result = _result(
            spec, Role.GUARDRAIL, found, spec.margin, spec.relative, boundary, decision, why
        )
        results.append(result.model_copy(update={"p_adjusted": p_adjusted}))
    return results


def _test(
    info: MetricInfo,
    setting: Setting,
    da: MetricData,
    db: MetricData,
    boundary: float,
    relative: bool,
) -> _Tested:
    if setting.mode is Stopping.SEQUENTIAL:
        absolute = _sequential(info, setting, da, db, 0.0 if relative else boundary, False)
        lift = _sequential(info, setting, da, db, boundary if relative else 0.0, True)
        return _from_sequential(info, da, db, absolute, lift, lift if relative else absolute)
    fixed = _fixed(info, setting, da, db, boundary, relative)
    return _from_fixed(fixed)


def _sequential(
    info: MetricInfo,
    setting: Setting,
    da: MetricData,
    db: MetricData,
    margin: float,
    relative: bool,
) -> SequentialResult:
    alpha, n_star = setting.alpha, setting.n_star
    if isinstance(da, ProportionData) and isinstance(db, ProportionData):
        a, b = proportion_stats(da), proportion_stats(db)
        return sequential_proportions(
            a, b, alpha=alpha, margin=margin, relative=relative, n_star=n_star
        )
    if isinstance(da, MeanData) and isinstance(db, MeanData):
        return sequential_means(
            mean_stats(da), mean_stats(db), alpha=alpha, margin=margin, relative=relative,
            n_star=n_star,
        )  # fmt: skip
    assert isinstance(da, HistogramData) and isinstance(db, HistogramData) and info.q
    fixed = compare_quantiles(
        histogram_values(da.counts), histogram_values(db.counts), info.q, relative=relative
    )
    return sequential_comparison(
        fixed, alpha=alpha, margin=margin, relative=relative, n_star=n_star
    )


def _fixed(
    info: MetricInfo,
    setting: Setting,
    da: MetricData,
    db: MetricData,
    boundary: float,
    relative: bool,
) -> Comparison:
    alpha = setting.alpha
    if isinstance(da, ProportionData) and isinstance(db, ProportionData):
        return compare_proportions(
            proportion_stats(da), proportion_stats(db), alpha=alpha, margin=boundary,
            relative=relative,
        )  # fmt: skip
    if isinstance(da, MeanData) and isinstance(db, MeanData):
        return compare_means(
            mean_stats(da), mean_stats(db), alpha=alpha, margin=boundary, relative=relative
        )
    assert isinstance(da, HistogramData) and isinstance(db, HistogramData) and info.q
    return compare_quantiles(
        histogram_values(da.counts), histogram_values(db.counts), info.q, alpha=alpha,
        margin=boundary, relative=relative,
    )  # fmt: skip


def _estimates(info: MetricInfo, da: MetricData, db: MetricData) -> tuple[float, float]:
    if isinstance(da, ProportionData) and isinstance(db, ProportionData):
        return proportion_stats(da).mean, proportion_stats(db).mean
    if isinstance(da, MeanData) and isinstance(db, MeanData):
        return mean_stats(da).mean, mean_stats(db).mean
    assert isinstance(da, HistogramData) and isinstance(db, HistogramData) and info.q
    fixed = compare_quantiles(histogram_values(da.counts), histogram_values(db.counts), info.q)
    return fixed.estimate_a, fixed.estimate_b


def _from_sequential(
    info: MetricInfo,
    da: MetricData,
    db: MetricData,
    absolute: SequentialResult,
    lift: SequentialResult,
    tested: SequentialResult,
) -> _Tested:
    return _Tested(
        method=SEQUENTIAL_METHOD,
        status=tested.status.value,
        reason=tested.reason,
        n=(tested.n_a, tested.n_b),
        estimates=_estimates(info, da, db),
        diff=absolute.estimate,
        diff_ci=absolute.ci,
        rel=(lift.estimate, lift.ci) if lift.status.value == "ok" else None,
        p_value=tested.p_value,
        ok=tested.status.value == "ok",
    )


def _from_fixed(fixed: Comparison) -> _Tested:
    rel = None
    if fixed.rel_lift is not None and fixed.rel_lift_ci is not None:
        rel = (fixed.rel_lift, fixed.rel_lift_ci)
    return _Tested(
        method=fixed.method.value,
        status=fixed.status.value,
        reason=fixed.reason,
        n=(fixed.n_a, fixed.n_b),
        estimates=(fixed.estimate_a, fixed.estimate_b),
        diff=fixed.diff,
        diff_ci=fixed.diff_ci,
        rel=rel,
        p_value=fixed.p_value,
        ok=fixed.ok,
    )


def _primary_decision(
    spec: PrimaryMetric, setting: Setting, tested: _Tested
) -> tuple[Decision, str]:
    if not tested.ok:
        return Decision.CONTINUE, f"not computable yet: {tested.reason}"
    if setting.mode is Stopping.FIXED and not setting.horizon:
        return Decision.NOT_JUDGED, "fixed horizon: judged once the planned sample is reached"
    low, high = tested.diff_ci
    level = f"{1 - setting.alpha:.0%} interval"
    if setting.mode is Stopping.SEQUENTIAL:
        significant, evidence = low > 0 or high < 0, f"the always-valid {level} excludes 0"
    else:
        significant = tested.p_value < setting.alpha
        evidence = f"p = {tested.p_value:.3g} < {setting.alpha:g}"
    if significant:
        b_higher = tested.diff > 0
        b_better = b_higher == (spec.direction is Better.HIGHER)
        side = "above" if b_higher else "below"
        return (
            Decision.B_BETTER if b_better else Decision.A_BETTER,
            f"b is {side} a and {spec.direction} is better: {evidence}",
        )
    if -spec.mde < low and high < spec.mde:
        return Decision.EQUIVALENT, f"the {level} lies within ±{spec.mde:g} (the MDE)"
    return Decision.CONTINUE, f"the {level} contains 0 and reaches past ±{spec.mde:g} (the MDE)"


def _guardrail_decision(
    spec: Guardrail, setting: Setting, tested: _Tested, boundary: float, p_adjusted: float
) -> tuple[Decision, str]:
    if not tested.ok:
        return Decision.CONTINUE, f"not computable yet: {tested.reason}"
    if setting.mode is Stopping.FIXED and not setting.horizon:
        return Decision.NOT_JUDGED, "fixed horizon: judged once the planned sample is reached"
    of = "relative lift" if spec.relative else "b - a"
    if p_adjusted >= setting.alpha:
        return Decision.CONTINUE, (
            f"not shown on either side of the margin ({of} = {boundary:g}): Holm-adjusted "
            f"p = {p_adjusted:.3g} >= {setting.alpha:g}"
        )
    estimate = tested.rel[0] if spec.relative and tested.rel else tested.diff
    worse = (estimate < boundary) == (spec.direction is Better.HIGHER)
    if worse:
        return Decision.FAILED, (
            f"b is worse than a beyond the margin ({of} past {boundary:g}; {spec.direction} "
            f"is better), Holm-adjusted p = {p_adjusted:.3g} < {setting.alpha:g}"
        )
    return Decision.NON_INFERIOR, (
        f"b is shown no worse than the margin ({of} on the good side of {boundary:g}), "
        f"Holm-adjusted p = {p_adjusted:.3g} < {setting.alpha:g}"
    )


def _result(
    spec: PrimaryMetric | Guardrail,
    role: Role,
    tested: _Tested,
    threshold: float,
    relative: bool,
    boundary: float,
    decision: Decision,
    why: str,
) -> MetricResult:
    rel_ci = None
    if tested.rel is not None:
        rel_ci = (finite(tested.rel[1][0]), finite(tested.rel[1][1]))
    return MetricResult(
        metric=spec.metric,
        role=role,
        kind=spec.info.kind,
        better=spec.direction,
        method=tested.method,
        status=tested.status,
        reason=tested.reason,
        n_a=tested.n[0],
        n_b=tested.n[1],
        estimate_a=tested.estimates[0],
        estimate_b=tested.estimates[1],
        diff=tested.diff,
        diff_ci=(finite(tested.diff_ci[0]), finite(tested.diff_ci[1])),
        rel_lift=tested.rel[0] if tested.rel is not None else None,
        rel_lift_ci=rel_ci,
        p_value=tested.p_value,
        threshold=threshold,
        relative=relative,
        boundary=boundary,
        decision=decision,
        why=why,
    )


def _unusable(
    spec: PrimaryMetric | Guardrail,
    role: Role,
    da: MetricData,
    db: MetricData,
    threshold: float,
) -> MetricResult:
    reason = next(d.reason for d in (da, db) if isinstance(d, UnusableData))
    return MetricResult(
        metric=spec.metric,
        role=role,
        kind=spec.info.kind,
        better=spec.direction,
        method="none",
        status="unusable_data",
        reason=reason,
        n_a=_n(da),
        n_b=_n(db),
        estimate_a=0.0,
        estimate_b=0.0,
        diff=0.0,
        diff_ci=(None, None),
        rel_lift=None,
        rel_lift_ci=None,
        p_value=1.0,
        threshold=threshold,
        decision=Decision.NOT_JUDGED,
        why=reason,
    )


def _n(data: MetricData) -> int:
    return data.n

"""Canary judgment: is the canary no worse than its baseline, within the policy's margins?

Pass, fail or inconclusive per metric (error rate, latency, quality), then one verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from analysis._core import check_alpha
from analysis.means import compare_means
from analysis.proportions import compare_proportions, score_interval
from analysis.quantiles import compare_quantiles
from analysis.results import Alternative, Comparison
from analysis.stats import MeanStats, ProportionStats


class VerdictStatus(StrEnum):
    """Outcome of a canary check and of the whole verdict."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"  # more data needed; never a silent pass


class CheckName(StrEnum):
    """Which metric a `CheckResult` judged."""

    SAMPLE_SIZE = "sample_size"
    ERROR_RATE = "error_rate"
    LATENCY = "latency"
    QUALITY = "quality"


class CheckReason(StrEnum):
    """Why a check came out the way it did."""

    NON_INFERIOR = "non_inferior"  # shown to be within the margin
    WORSE_THAN_MARGIN = "worse_than_margin"  # shown to be worse than the margin allows
    NEED_MORE_DATA = "need_more_data"  # the interval still straddles the margin
    BELOW_MIN_SAMPLES = "below_min_samples"
    MISSING_DATA = "missing_data"  # the policy asks for a metric an arm does not carry
    NOT_COMPUTABLE = "not_computable"  # the test returned a coded data condition


@dataclass(frozen=True)
class CanaryPolicy:
    """Margins and guards for `judge_canary`; catalog ``rollout:`` maps onto it.

    min_samples: requests per arm before any pass or fail.
    max_error_rate_increase: absolute error-rate margin (0.01 = one point): pass when
        the canary is shown to err less than baseline + margin, fail when shown to err
        more. 0 asks for more than parity: a pass needs the canary shown to err less
        than the baseline, a canary that errs as often stays inconclusive however much
        traffic it gets, and with no errors in either arm the check cannot be computed
        (inconclusive).
    max_latency_increase_ratio / max_latency_increase_ms: latency margin, relative
        (0.1 = 10% slower) or in ms; at most one. Judged on the mean (`latency_ms`
        sufficient statistics) or, with `latency_quantile` (e.g. 0.95), on that
        quantile of `latency_samples_ms`. Both None: latency is not judged.
    max_quality_decrease: absolute margin on the mean quality score (higher is
        better); None: quality is not judged.
    alpha: error rate of each one-sided test.
    planned_looks: how many times a rollout will judge; each look tests at
        alpha / planned_looks (Bonferroni) so repeated judging keeps alpha overall.
    """

    min_samples: int = 500
    max_error_rate_increase: float = 0.01
    max_latency_increase_ratio: float | None = 0.10
    max_latency_increase_ms: float | None = None
    latency_quantile: float | None = None
    max_quality_decrease: float | None = None
    alpha: float = 0.05
    planned_looks: int = 1

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        if self.min_samples < 2 or self.planned_looks < 1:
            raise ValueError("min_samples must be >= 2 and planned_looks >= 1")
        if not 0.0 <= self.max_error_rate_increase < 1.0:
            raise ValueError("max_error_rate_increase must be in [0, 1)")
        ratio, ms = self.max_latency_increase_ratio, self.max_latency_increase_ms
        if ratio is not None and ms is not None:
            raise ValueError("set max_latency_increase_ratio or max_latency_increase_ms, not both")
        for name, value in (("ratio", ratio), ("ms", ms), ("quality", self.max_quality_decrease)):
            if value is not None and not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"the {name} margin must be a finite number >= 0, got {value}")
        if self.latency_quantile is not None and not 0.0 < self.latency_quantile < 1.0:
            raise ValueError(f"latency_quantile must be in (0, 1), got {self.latency_quantile}")

    @property
    def alpha_per_look(self) -> float:
        return self.alpha / self.planned_looks


@dataclass(frozen=True)
class ArmStats:
    """What one arm served: `errors` counts errored requests out of all requests
    (its n is the arm's sample size); latency as sufficient statistics and/or raw
    samples (for quantile checks); an optional quality score."""

    errors: ProportionStats
    latency_ms: MeanStats | None = None
    latency_samples_ms: tuple[float, ...] | None = None
    quality: MeanStats | None = None


@dataclass(frozen=True)
class CheckResult:
    """One metric's judgment. `estimate` is canary - baseline (relative lift for a
    ratio margin); `interval` is its two-sided (1 - 2 alpha) interval, whose
    bounds the two one-sided tests compare with `margin`."""

    name: CheckName
    outcome: VerdictStatus
    reason: CheckReason
    detail: str
    estimate: float | None = None
    interval: tuple[float, float] | None = None
    margin: float | None = None
    p_value_pass: float | None = None
    p_value_fail: float | None = None


@dataclass(frozen=True)
class Verdict:
    """`status` of the canary, every check, and the human-readable `reasons` that
    decided it (the failing checks, or the inconclusive ones, or all passes)."""

    status: VerdictStatus
    reasons: tuple[str, ...]
    checks: tuple[CheckResult, ...]
    alpha_per_test: float


def judge_canary(baseline: ArmStats, canary: ArmStats, policy: CanaryPolicy) -> Verdict:
    """Judge a canary against its baseline under `policy`.

    Each metric gets two one-sided tests at ``policy.alpha_per_look`` against its
    margin m: pass when "canary - baseline < m" is shown (non-inferiority), fail
    when "canary - baseline > m" is shown, inconclusive (collect more data)
    otherwise. Error rate: pooled z / Farrington-Manning score test (works with
    zero errors), shown with the score interval those tests invert; latency: Welch
    t on the mean or order-statistic test on a quantile; quality: Welch t. The
    verdict fails if any check fails and passes only if every check passes. Below
    `min_samples` in either arm it is inconclusive whatever the data.
    """
    if not (isinstance(baseline, ArmStats) and isinstance(canary, ArmStats)):
        raise ValueError("judge_canary takes two ArmStats")
    n_base, n_canary = baseline.errors.n, canary.errors.n
    if min(n_base, n_canary) < policy.min_samples:
        detail = f"{n_base} baseline / {n_canary} canary requests; need {policy.min_samples}"
        check = CheckResult(
            CheckName.SAMPLE_SIZE, VerdictStatus.INCONCLUSIVE, CheckReason.BELOW_MIN_SAMPLES, detail
        )
        return _verdict((check,), policy)
    checks = [_error_check(baseline, canary, policy)]
    latency = _latency_check(baseline, canary, policy)
    if latency is not None:
        checks.append(latency)
    if policy.max_quality_decrease is not None:
        checks.append(_quality_check(baseline, canary, policy, policy.max_quality_decrease))
    return _verdict(tuple(checks), policy)


def _verdict(checks: tuple[CheckResult, ...], policy: CanaryPolicy) -> Verdict:
    outcomes = {check.outcome for check in checks}
    if VerdictStatus.FAIL in outcomes:
        status = VerdictStatus.FAIL
    elif outcomes == {VerdictStatus.PASS}:
        status = VerdictStatus.PASS
    else:
        status = VerdictStatus.INCONCLUSIVE
    reasons = tuple(f"{c.name}: {c.detail}" for c in checks if c.outcome is status)
    return Verdict(status, reasons, checks, policy.alpha_per_look)


def _error_check(baseline: ArmStats, canary: ArmStats, policy: CanaryPolicy) -> CheckResult:
    margin = policy.max_error_rate_increase
    compare = partial(
        compare_proportions,
        baseline.errors,
        canary.errors,
        margin=margin,
        alpha=policy.alpha_per_look,
    )
    shown_ok, shown_bad = compare(alternative="less"), compare(alternative="greater")
    bounds = None
    if shown_ok.ok:
        # The interval the score tests invert, not compare_proportions' Newcombe interval.
        alpha, base, cand = policy.alpha_per_look, baseline.errors, canary.errors
        low, _ = score_interval(base, cand, alpha, Alternative.GREATER)
        _, high = score_interval(base, cand, alpha, Alternative.LESS)
        bounds = (low, high)
    return _judge(CheckName.ERROR_RATE, shown_ok, shown_bad, margin, "absolute", bounds)


@dataclass(frozen=True)
class _LatencyMargin:
    value: float
    relative: bool

    @property
    def unit(self) -> str:
        return "relative" if self.relative else "ms"


def _latency_check(
    baseline: ArmStats, canary: ArmStats, policy: CanaryPolicy
) -> CheckResult | None:
    ratio, ms = policy.max_latency_increase_ratio, policy.max_latency_increase_ms
    if ratio is not None:
        margin = _LatencyMargin(ratio, relative=True)
    elif ms is not None:
        margin = _LatencyMargin(ms, relative=False)
    else:
        return None
    if policy.latency_quantile is not None:
        tests = _quantile_tests(baseline, canary, margin, policy, policy.latency_quantile)
        field = "latency_samples_ms"
    else:
        tests = _mean_tests(baseline, canary, margin, policy)
        field = "latency_ms"
    if tests is None:
        return _missing(CheckName.LATENCY, field, margin.value)
    return _judge(CheckName.LATENCY, *tests, margin.value, margin.unit)


def _quantile_tests(
    baseline: ArmStats, canary: ArmStats, margin: _LatencyMargin, policy: CanaryPolicy, q: float
) -> tuple[Comparison, Comparison] | None:
    base, cand = baseline.latency_samples_ms, canary.latency_samples_ms
    if base is None or cand is None:
        return None
    compare = partial(
        compare_quantiles,
        base,
        cand,
        q,
        margin=margin.value,
        relative=margin.relative,
        alpha=policy.alpha_per_look,
    )
    return compare(alternative="less"), compare(alternative="greater")


def _mean_tests(
    baseline: ArmStats, canary: ArmStats, margin: _LatencyMargin, policy: CanaryPolicy
) -> tuple[Comparison, Comparison] | None:
    base, cand = baseline.latency_ms, canary.latency_ms
    if base is None or cand is None:
        return None
    compare = partial(
        compare_means,
        base,
        cand,
        margin=margin.value,
        relative=margin.relative,
        alpha=policy.alpha_per_look,
    )
    return compare(alternative="less"), compare(alternative="greater")


def _quality_check(
    baseline: ArmStats, canary: ArmStats, policy: CanaryPolicy, decrease: float
) -> CheckResult:
    if baseline.quality is None or canary.quality is None:
        return _missing(CheckName.QUALITY, "quality", -decrease)
    # Higher quality is better: harm is canary - baseline below -decrease.
    compare = partial(
        compare_means,
        baseline.quality,
        canary.quality,
        margin=-decrease,
        alpha=policy.alpha_per_look,
    )
    shown_ok, shown_bad = compare(alternative="greater"), compare(alternative="less")
    return _judge(CheckName.QUALITY, shown_ok, shown_bad, -decrease, "absolute")


def _missing(name: CheckName, field: str, margin: float) -> CheckResult:
    detail = f"the policy judges {name} but an arm has no {field}"
    return CheckResult(
        name, VerdictStatus.INCONCLUSIVE, CheckReason.MISSING_DATA, detail, margin=margin
    )


def _judge(
    name: CheckName,
    shown_ok: Comparison,
    shown_bad: Comparison,
    margin: float,
    unit: str,
    bounds: tuple[float, float] | None = None,
) -> CheckResult:
    """Combine the non-inferiority test (`shown_ok`) and the inferiority test (`shown_bad`);
    `bounds` replaces the tests' own intervals when those are not what the tests invert."""
    if not shown_ok.ok:
        detail = f"cannot test ({shown_ok.status}): {shown_ok.reason}"
        return CheckResult(
            name, VerdictStatus.INCONCLUSIVE, CheckReason.NOT_COMPUTABLE, detail, margin=margin
        )
    estimate, own_bounds = _effect(shown_ok, shown_bad)
    bounds = own_bounds if bounds is None else bounds
    if shown_bad.significant:
        outcome, reason, verb = VerdictStatus.FAIL, CheckReason.WORSE_THAN_MARGIN, "exceeds"
    elif shown_ok.significant:
        outcome, reason, verb = VerdictStatus.PASS, CheckReason.NON_INFERIOR, "is within"
    else:
        outcome, reason, verb = VerdictStatus.INCONCLUSIVE, CheckReason.NEED_MORE_DATA, "straddles"
    detail = (
        f"change {estimate:+.4g} ({unit}), interval [{bounds[0]:.4g}, {bounds[1]:.4g}] "
        f"{verb} the margin {margin:+.4g}"
    )
    return CheckResult(
        name,
        outcome,
        reason,
        detail,
        estimate,
        bounds,
        margin,
        p_value_pass=shown_ok.p_value,
        p_value_fail=shown_bad.p_value,
    )


def _effect(shown_ok: Comparison, shown_bad: Comparison) -> tuple[float, tuple[float, float]]:
    """Estimate and the two one-sided bounds, on the scale the tests used."""
    if shown_ok.relative:
        assert shown_ok.rel_lift is not None and shown_ok.rel_lift_ci is not None
        assert shown_bad.rel_lift_ci is not None
        estimate, one, other = shown_ok.rel_lift, shown_ok.rel_lift_ci, shown_bad.rel_lift_ci
    else:
        estimate, one, other = shown_ok.diff, shown_ok.diff_ci, shown_bad.diff_ci
    finite = sorted(b for b in (*one, *other) if math.isfinite(b))
    return estimate, (finite[0], finite[-1])

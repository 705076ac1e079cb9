"""Always-valid inference for experiments that are looked at after every batch.

Asymptotic confidence sequences (Waudby-Smith et al. 2023, arXiv:2103.06476), as gbstats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from analysis._core import check_alpha, check_finite, norm_ppf, parse_alternative
from analysis.means import compare_means
from analysis.power import SampleSize
from analysis.proportions import compare_proportions
from analysis.results import UNBOUNDED, Alternative, AnalysisWarning, Comparison, Status
from analysis.stats import MeanStats, ProportionStats

DEFAULT_N_STAR = 5000  # gbstats' default tuning: total sample size the CS is tightest at


class SequentialDecision(StrEnum):
    """What to do after this look, about b - a (or b / a - 1 when relative)."""

    INCREASE = "increase"  # b is above a (beyond the margin): stop
    DECREASE = "decrease"  # b is below a (beyond the margin): stop
    CONTINUE = "continue"  # not yet conclusive: keep collecting


@dataclass(frozen=True)
class SequentialResult:
    """One look at an experiment.

    `ci` is the always-valid interval for the effect (half-open for one-sided
    alternatives); `p_value` is always valid too (p <= alpha exactly when `ci`
    excludes `margin`). `estimate` and `se` are of b - a, or of the relative lift
    when `relative`. Non-``ok`` status: CONTINUE, p 1.0, unbounded interval.
    """

    status: Status
    reason: str
    estimate: float
    se: float
    ci: tuple[float, float]
    p_value: float
    decision: SequentialDecision
    significant: bool
    alternative: Alternative
    alpha: float
    margin: float
    relative: bool
    n_star: float
    rho: float
    n_a: int
    n_b: int
    warnings: tuple[AnalysisWarning, ...] = ()


@dataclass(frozen=True)
class _Plan:
    alternative: Alternative
    alpha: float
    margin: float
    relative: bool
    n_star: float


def sequential_proportions(
    a: ProportionStats,
    b: ProportionStats,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    margin: float = 0.0,
    relative: bool = False,
    n_star: float = DEFAULT_N_STAR,
) -> SequentialResult:
    """Always-valid look at p_b - p_a (unpooled Bernoulli variance, as gbstats).

    The interval (eq. 9 two-sided, eq. 134 one-sided) holds at every look at once,
    so stopping the first time it excludes the margin keeps the error rate <= alpha.
    n_star: the total sample size (both arms) at which the sequence is tightest;
    set it near the expected final sample size. Safe to call after every batch.
    """
    plan = _plan(alpha, alternative, margin, relative, n_star)
    fixed = compare_proportions(a, b, method="wald", relative=relative)
    return _look(fixed, plan)


def sequential_means(
    a: MeanStats,
    b: MeanStats,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    margin: float = 0.0,
    relative: bool = False,
    n_star: float = DEFAULT_N_STAR,
) -> SequentialResult:
    """Always-valid look at mean(b) - mean(a); see `sequential_proportions`."""
    plan = _plan(alpha, alternative, margin, relative, n_star)
    fixed = compare_means(a, b, relative=relative)
    return _look(fixed, plan)


def sequential_comparison(
    fixed: Comparison,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    margin: float = 0.0,
    relative: bool = False,
    n_star: float = DEFAULT_N_STAR,
) -> SequentialResult:
    """Always-valid look from a fixed-horizon comparison of any asymptotically normal
    estimator, e.g. `compare_quantiles` (a sample quantile is asymptotically a mean, by its
    Bahadur representation). `fixed` must have been computed with the same `relative`;
    its estimate and standard error are used, its own test is not."""
    if fixed.relative != relative:
        raise ValueError(
            f"fixed was computed with relative={fixed.relative}, asked for relative={relative}"
        )
    return _look(fixed, _plan(alpha, alternative, margin, relative, n_star))


def sequential_sample_size(fixed: SampleSize) -> SampleSize:
    """Units per arm for the always-valid test to have `fixed`'s power at its MDE when
    tuned with n_star = the returned total: `fixed` scaled by ((c + z_power) / (z_crit +
    z_power))^2, c being the sequence's half-width in standard errors at n = n_star (3.04
    at alpha 0.05, two-sided, against 1.96 for the fixed-horizon interval). The
    sequential test may stop long before; this is the sample it should be allowed."""
    two_sided = fixed.alternative is Alternative.TWO_SIDED
    tail = fixed.alpha / 2.0 if two_sided else fixed.alpha
    z_power = norm_ppf(fixed.power)
    scale = (_halfwidth_in_se(fixed.alpha, two_sided) + z_power) / (norm_ppf(1 - tail) + z_power)
    n_a = fixed.n_a_exact * scale**2
    ratio = fixed.n_b_exact / fixed.n_a_exact
    return SampleSize(
        n_a=math.ceil(n_a - 1e-9),
        n_b=math.ceil(n_a * ratio - 1e-9),
        n_a_exact=n_a,
        n_b_exact=n_a * ratio,
        alpha=fixed.alpha,
        power=fixed.power,
        mde=fixed.mde,
        alternative=fixed.alternative,
    )


def _halfwidth_in_se(alpha: float, two_sided: bool) -> float:
    """Half-width / standard error of the sequence at n = n_star, where n * rho^2 is the
    constant of eq. 161; it does not depend on the data or on n_star itself."""
    level = alpha if two_sided else 2.0 * alpha
    log_term = -2.0 * math.log(level)
    n_rho2 = log_term + math.log(log_term + 1.0)
    return _halfwidth(1.0, 1, math.sqrt(n_rho2), alpha, two_sided)


def _plan(alpha: float, alternative: str, margin: float, relative: bool, n_star: float) -> _Plan:
    alt = parse_alternative(alternative)
    alpha = check_alpha(alpha)
    if alt is not Alternative.TWO_SIDED and alpha >= 0.5:
        raise ValueError(f"one-sided sequential tests need alpha < 0.5, got {alpha}")
    if not check_finite("n_star", n_star) > 0:
        raise ValueError(f"n_star must be > 0, got {n_star}")
    return _Plan(alt, alpha, check_finite("margin", margin), relative, float(n_star))


def rho(alpha: float, n_star: float, *, two_sided: bool = True) -> float:
    """Mixture tuning parameter (eq. 161); one-sided sequences use 2 * alpha."""
    level = alpha if two_sided else 2.0 * alpha
    log_term = -2.0 * math.log(level)
    return math.sqrt((log_term + math.log(log_term + 1.0)) / n_star)


def _look(fixed: Comparison, plan: _Plan) -> SequentialResult:
    two_sided = plan.alternative is Alternative.TWO_SIDED
    tuning = rho(plan.alpha, plan.n_star, two_sided=two_sided)
    if fixed.ok:
        estimate, se, ci, p = _evaluate(fixed, plan, tuning)
    else:
        estimate, se, ci, p = fixed.diff, 0.0, UNBOUNDED, 1.0
    decision = _decide(ci, plan)
    return SequentialResult(
        status=fixed.status,
        reason=fixed.reason,
        estimate=estimate,
        se=se,
        ci=ci,
        p_value=p,
        decision=decision,
        significant=decision is not SequentialDecision.CONTINUE,
        alternative=plan.alternative,
        alpha=plan.alpha,
        margin=plan.margin,
        relative=plan.relative,
        n_star=plan.n_star,
        rho=tuning,
        n_a=fixed.n_a,
        n_b=fixed.n_b,
        warnings=fixed.warnings,
    )


def _evaluate(
    fixed: Comparison, plan: _Plan, tuning: float
) -> tuple[float, float, tuple[float, float], float]:
    """Estimate, standard error, always-valid interval and p-value of a usable look."""
    if plan.relative:
        assert fixed.rel_lift is not None and fixed.rel_lift_se is not None
        estimate, se = fixed.rel_lift, fixed.rel_lift_se
    else:
        estimate, se = fixed.diff, fixed.diff_se
    two_sided = plan.alternative is Alternative.TWO_SIDED
    n = fixed.n_a + fixed.n_b
    half = _halfwidth(se * se * n, n, tuning, plan.alpha, two_sided)
    ci = _interval(estimate, half, plan.alternative)
    return estimate, se, ci, _p_value((estimate - plan.margin) / se, n, tuning, plan.alternative)


def _halfwidth(s2: float, n: int, tuning: float, alpha: float, two_sided: bool) -> float:
    """Half-width of the confidence sequence: eq. 9 (two-sided) or eq. 134 (one-sided)."""
    nr2 = n * tuning**2 + 1.0
    scale = s2 * 2.0 * nr2 / (n * tuning) ** 2
    if two_sided:
        return math.sqrt(scale * math.log(math.sqrt(nr2) / alpha))
    return math.sqrt(scale * math.log(1.0 + math.sqrt(nr2) / (2.0 * alpha)))


def _p_value(z: float, n: int, tuning: float, alternative: Alternative) -> float:
    """Smallest alpha whose sequence excludes the margin (eq. 155 two-sided)."""
    nr2 = n * tuning**2 + 1.0
    exponent = tuning**2 * n * z * z / (2.0 * nr2)
    if alternative is Alternative.TWO_SIDED:
        return min(1.0, math.sqrt(nr2) * math.exp(-min(exponent, 700.0)))
    favourable = z > 0 if alternative is Alternative.GREATER else z < 0
    if not favourable or exponent == 0.0:
        return 1.0
    # Inverts eq. 134 for alpha with rho held fixed, as gbstats' bisection does.
    return min(1.0, math.sqrt(nr2) / (2.0 * math.expm1(min(exponent, 700.0))))


def _interval(estimate: float, half: float, alternative: Alternative) -> tuple[float, float]:
    if alternative is Alternative.GREATER:
        return (estimate - half, math.inf)
    if alternative is Alternative.LESS:
        return (-math.inf, estimate + half)
    return (estimate - half, estimate + half)


def _decide(ci: tuple[float, float], plan: _Plan) -> SequentialDecision:
    if ci[0] > plan.margin:
        return SequentialDecision.INCREASE
    if ci[1] < plan.margin:
        return SequentialDecision.DECREASE
    return SequentialDecision.CONTINUE

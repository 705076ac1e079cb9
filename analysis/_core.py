"""Private numerics shared by the statistical tests: tails, argument checks, effect tests.

Tails come from scipy.special ufuncs: same maths as scipy.stats, ~50x cheaper per call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from analysis.results import UNBOUNDED, Alternative, AnalysisWarning, Comparison, Method, Status


def norm_sf(x: float) -> float:
    return float(special.ndtr(-x))


def norm_ppf(p: float) -> float:
    return float(special.ndtri(p))


def t_sf(x: float, dof: float) -> float:
    return float(special.stdtr(dof, -x))


def t_ppf(p: float, dof: float) -> float:
    return float(special.stdtrit(dof, p))


def chi2_sf(x: float, dof: float) -> float:
    return float(special.chdtrc(dof, x))


def check_alpha(alpha: float, name: str = "alpha") -> float:
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {alpha!r}")
    return float(alpha)


def check_finite(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def parse_alternative(value: str) -> Alternative:
    try:
        return Alternative(value)
    except ValueError:
        allowed = ", ".join(repr(a.value) for a in Alternative)
        raise ValueError(f"alternative must be one of {allowed}, got {value!r}") from None


@dataclass(frozen=True)
class Effect:
    """An effect estimate with its standard error; `dof` None means a normal reference."""

    estimate: float
    se: float
    dof: float | None = None

    def quantile(self, p: float) -> float:
        return norm_ppf(p) if self.dof is None else t_ppf(p, self.dof)

    def sf(self, x: float) -> float:
        return norm_sf(x) if self.dof is None else t_sf(x, self.dof)


def interval(effect: Effect, alpha: float, alternative: Alternative) -> tuple[float, float]:
    """Confidence interval matching the alternative (half-open for one-sided tests)."""
    if alternative is Alternative.TWO_SIDED:
        width = effect.quantile(1.0 - alpha / 2.0) * effect.se
        return (effect.estimate - width, effect.estimate + width)
    width = effect.quantile(1.0 - alpha) * effect.se
    if alternative is Alternative.GREATER:
        return (effect.estimate - width, math.inf)
    return (-math.inf, effect.estimate + width)


def p_value(statistic: float, alternative: Alternative, reference: Effect) -> float:
    """P-value of a standardised statistic under the reference distribution of an effect."""
    if alternative is Alternative.TWO_SIDED:
        p = 2.0 * reference.sf(abs(statistic))
    elif alternative is Alternative.GREATER:
        p = reference.sf(statistic)
    else:
        p = reference.sf(-statistic)
    return min(1.0, max(0.0, p))


def test_effect(effect: Effect, margin: float, alternative: Alternative) -> tuple[float, float]:
    """Statistic and p-value of H0: effect == margin (or the one-sided version)."""
    statistic = (effect.estimate - margin) / effect.se
    return statistic, p_value(statistic, alternative, effect)


def relative_effect(
    mean_a: float, se_a: float, mean_b: float, se_b: float, dof: float | None
) -> Effect | None:
    """b / a - 1 with its delta-method standard error (gbstats); None when a <= 0."""
    if mean_a <= 0.0:
        return None
    ratio = mean_b / mean_a
    # Written as a hypot of ratios so tiny baselines do not underflow mean_a**4 to 0.
    se = math.hypot(se_b / mean_a, se_a / mean_a * ratio)
    if not (math.isfinite(ratio) and math.isfinite(se)):
        return None
    return Effect(ratio - 1.0, se, dof)


@dataclass(frozen=True)
class Setup:
    """What the caller asked for and what the arms look like, before any test."""

    method: Method
    alternative: Alternative
    alpha: float
    margin: float
    relative: bool
    n_a: int
    n_b: int
    estimate_a: float
    estimate_b: float


def unavailable(
    setup: Setup, status: Status, reason: str, warnings: tuple[AnalysisWarning, ...] = ()
) -> Comparison:
    """The coded, conservative result for data the test cannot use."""
    return Comparison(
        method=setup.method,
        alternative=setup.alternative,
        status=status,
        reason=reason,
        estimate_a=setup.estimate_a,
        estimate_b=setup.estimate_b,
        diff=setup.estimate_b - setup.estimate_a,
        diff_se=0.0,
        diff_ci=UNBOUNDED,
        rel_lift=None,
        rel_lift_se=None,
        rel_lift_ci=None,
        statistic=None,
        p_value=1.0,
        dof=None,
        significant=False,
        alpha=setup.alpha,
        margin=setup.margin,
        relative=setup.relative,
        n_a=setup.n_a,
        n_b=setup.n_b,
        warnings=warnings,
    )


def finish(
    setup: Setup,
    absolute: Effect,
    diff_ci: tuple[float, float],
    relative: Effect | None,
    test: tuple[float | None, float],
    warnings: tuple[AnalysisWarning, ...] = (),
    rel_ci: tuple[float, float] | None = None,
) -> Comparison:
    """Assemble a computed comparison; `test` is (statistic, p-value).

    `rel_ci` replaces the delta-method interval of the relative lift (the bootstrap passes
    its percentile interval); without it the delta-method interval is computed here.
    """
    if relative is None:
        warnings = (*warnings, AnalysisWarning.BASELINE_NOT_POSITIVE)
    elif rel_ci is None:
        rel_ci = interval(relative, setup.alpha, setup.alternative)
    statistic, p = test
    return Comparison(
        method=setup.method,
        alternative=setup.alternative,
        status=Status.OK,
        reason="",
        estimate_a=setup.estimate_a,
        estimate_b=setup.estimate_b,
        diff=absolute.estimate,
        diff_se=absolute.se,
        diff_ci=diff_ci,
        rel_lift=None if relative is None else relative.estimate,
        rel_lift_se=None if relative is None else relative.se,
        rel_lift_ci=None if relative is None else rel_ci,
        statistic=statistic,
        p_value=p,
        dof=absolute.dof,
        significant=p < setup.alpha,
        alpha=setup.alpha,
        margin=setup.margin,
        relative=setup.relative,
        n_a=setup.n_a,
        n_b=setup.n_b,
        warnings=warnings,
    )


def welch_dof(se2_a: float, n_a: int, se2_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom from squared standard errors of the means."""
    scale = max(se2_a, se2_b)  # normalise so squaring tiny variances cannot underflow to 0
    ra, rb = se2_a / scale, se2_b / scale
    return (ra + rb) ** 2 / (ra**2 / (n_a - 1) + rb**2 / (n_b - 1))

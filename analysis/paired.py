"""Paired evaluations of two models on the same prompts: McNemar and paired t.

McNemar's b = prompts the baseline got right and the candidate wrong; c = the reverse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from analysis._core import (
    Effect,
    Setup,
    check_alpha,
    check_finite,
    chi2_sf,
    finish,
    interval,
    norm_sf,
    parse_alternative,
    test_effect,
    unavailable,
)
from analysis.nonparametric import finite_array
from analysis.results import Alternative, Comparison, Method, Status
from analysis.stats import MeanStats


@dataclass(frozen=True)
class McNemarResult:
    """`statistic` is c for the exact test, chi-squared (two-sided) or z (one-sided)
    for the asymptotic one. `alternative` is about the candidate: "greater" = c > b.
    `mid_p` marks the mid-p variant of the exact test."""

    status: Status
    reason: str
    b: int
    c: int
    statistic: float
    p_value: float
    exact: bool
    alternative: Alternative
    significant: bool
    mid_p: bool = False


def mcnemar(
    b: int,
    c: int,
    *,
    exact: bool = True,
    mid_p: bool = False,
    correction: bool = True,
    alternative: str = "two-sided",
    alpha: float = 0.05,
) -> McNemarResult:
    """McNemar test from the discordant counts b (baseline only right) and c (candidate
    only right). Exact: binomial test of c out of b + c at 1/2. Asymptotic: chi-squared
    with Edwards' continuity correction unless ``correction=False`` (as statsmodels).

    ``mid_p=True`` (exact only) counts half the probability of the observed c: one-sided
    P(X < c) + P(X = c) / 2, two-sided twice the smaller tail. It keeps close to the
    nominal level where the exact test is conservative (Fagerland, Lydersen & Laake 2013).
    """
    alt, alpha = parse_alternative(alternative), check_alpha(alpha)
    if mid_p and not exact:
        raise ValueError("mid_p=True applies only to the exact test (exact=True)")
    for name, value in (("b", b), ("c", c)):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    b, c = int(b), int(c)
    if b + c == 0:
        reason = "no discordant pairs: the two models never disagree"
        return McNemarResult(Status.ZERO_VARIANCE, reason, b, c, 0.0, 1.0, exact, alt, False, mid_p)
    if mid_p:
        statistic, p = float(c), _mid_p(b, c, alt)
    elif exact:
        statistic = float(c)
        p = float(stats.binomtest(c, b + c, 0.5, alternative=alt.value).pvalue)
    else:
        statistic, p = _asymptotic(b, c, correction, alt)
    p = min(1.0, p)
    return McNemarResult(Status.OK, "", b, c, statistic, p, exact, alt, p < alpha, mid_p)


def _mid_p(b: int, c: int, alt: Alternative) -> float:
    """Mid-p of c ~ Binomial(b + c, 1/2): the exact tail with half the observed point."""
    n, half_point = b + c, float(stats.binom.pmf(c, b + c, 0.5)) / 2.0
    below = float(stats.binom.cdf(c - 1, n, 0.5)) + half_point
    above = float(stats.binom.sf(c, n, 0.5)) + half_point
    if alt is Alternative.LESS:
        return below
    if alt is Alternative.GREATER:
        return above
    return min(1.0, 2.0 * min(below, above))


def _asymptotic(b: int, c: int, correction: bool, alt: Alternative) -> tuple[float, float]:
    shrink = 1.0 if correction else 0.0
    if alt is Alternative.TWO_SIDED:
        chi2 = max(abs(c - b) - shrink, 0.0) ** 2 / (b + c)
        return chi2, chi2_sf(chi2, 1.0)
    gap = c - b
    z = math.copysign(max(abs(gap) - shrink, 0.0), gap) / math.sqrt(b + c)
    return z, norm_sf(z) if alt is Alternative.GREATER else norm_sf(-z)


def paired_t(
    x: Sequence[float] | NDArray[np.float64],
    y: Sequence[float] | NDArray[np.float64],
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    margin: float = 0.0,
) -> Comparison:
    """Paired t test of y - x (candidate minus baseline score on the same items).

    Same as ``scipy.stats.ttest_rel(y, x)`` for margin 0; see `paired_t_from_stats`.
    """
    xs, ys = finite_array("x", x), finite_array("y", y)
    if xs.size != ys.size:
        raise ValueError(f"paired samples need equal lengths, got {xs.size} and {ys.size}")
    return paired_t_from_stats(
        MeanStats.from_values(xs.tolist()),
        MeanStats.from_values(ys.tolist()),
        MeanStats.from_values((ys - xs).tolist()),
        alpha=alpha,
        alternative=alternative,
        margin=margin,
    )


def paired_t_from_stats(
    x: MeanStats,
    y: MeanStats,
    diff: MeanStats,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    margin: float = 0.0,
) -> Comparison:
    """Paired t test from sufficient statistics of x, y and of the differences y - x
    (SQL: COUNT, SUM(y - x), SUM((y - x)^2)); the relative lift uses the covariance
    they imply."""
    if not x.n == y.n == diff.n:
        raise ValueError(f"paired statistics need one n, got {x.n}, {y.n}, {diff.n}")
    setup = Setup(
        method=Method.PAIRED_T,
        alternative=parse_alternative(alternative),
        alpha=check_alpha(alpha),
        margin=check_finite("margin", margin),
        relative=False,
        n_a=x.n,
        n_b=y.n,
        estimate_a=x.mean,
        estimate_b=y.mean,
    )
    if diff.n == 0:
        return unavailable(setup, Status.EMPTY_INPUT, "no pairs")
    if diff.n < 2:
        return unavailable(setup, Status.TOO_FEW_SAMPLES, "a paired t test needs 2 pairs")
    if diff.variance == 0.0:
        return unavailable(setup, Status.ZERO_VARIANCE, "every pair has the same difference")
    absolute = Effect(diff.mean, math.sqrt(diff.variance / diff.n), float(diff.n - 1))
    test = test_effect(absolute, setup.margin, setup.alternative)
    ci = interval(absolute, setup.alpha, setup.alternative)
    return finish(setup, absolute, ci, _paired_relative(x, y, diff), test)


def _paired_relative(x: MeanStats, y: MeanStats, diff: MeanStats) -> Effect | None:
    """y-bar / x-bar - 1 with a delta-method SE that keeps the pairing covariance."""
    if x.mean <= 0.0:
        return None
    ratio = y.mean / x.mean
    covariance = (x.variance + y.variance - diff.variance) / 2.0
    var_ratio = (y.variance - 2.0 * ratio * covariance + ratio**2 * x.variance) / (x.n * x.mean**2)
    return Effect(ratio - 1.0, math.sqrt(max(var_ratio, 0.0)), float(diff.n - 1))

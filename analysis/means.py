"""Two-sample comparison of means from sufficient statistics: Welch t, Satterthwaite dof."""

from __future__ import annotations

import math

from analysis._core import (
    Effect,
    Setup,
    check_alpha,
    check_finite,
    finish,
    interval,
    parse_alternative,
    relative_effect,
    test_effect,
    unavailable,
    welch_dof,
)
from analysis.results import Comparison, Method, Status
from analysis.stats import MeanStats


def compare_means(
    a: MeanStats,
    b: MeanStats,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    margin: float = 0.0,
    relative: bool = False,
) -> Comparison:
    """Welch t test of mean(b) - mean(a), with Welch-Satterthwaite degrees of freedom.

    alternative: "two-sided" | "greater" | "less", about b - a. margin: tests
    ``diff - margin`` (e.g. ``alternative="less", margin=20.0`` shows latency is at
    most 20 ms worse). relative: test the relative lift b / a - 1 instead (delta
    method, gbstats' "relative" difference type); the margin is then relative too.
    Matches ``scipy.stats.ttest_ind_from_stats(equal_var=False)`` for margin 0.
    """
    setup = _setup(a, b, alpha, alternative, margin, relative)
    problem = _data_problem(a, b, relative)
    if problem is not None:
        return unavailable(setup, *problem)
    se2_a, se2_b = a.variance / a.n, b.variance / b.n
    dof = welch_dof(se2_a, a.n, se2_b, b.n)
    absolute = Effect(b.mean - a.mean, math.sqrt(se2_a + se2_b), dof)
    rel = relative_effect(a.mean, math.sqrt(se2_a), b.mean, math.sqrt(se2_b), dof)
    if relative:
        if rel is None or rel.se == 0.0:
            return unavailable(setup, Status.ZERO_VARIANCE, "the relative lift has no spread")
        test = test_effect(rel, setup.margin, setup.alternative)
    else:
        test = test_effect(absolute, setup.margin, setup.alternative)
    ci = interval(absolute, setup.alpha, setup.alternative)
    return finish(setup, absolute, ci, rel, test)


def _setup(
    a: MeanStats, b: MeanStats, alpha: float, alternative: str, margin: float, relative: bool
) -> Setup:
    if not (isinstance(a, MeanStats) and isinstance(b, MeanStats)):
        raise ValueError("compare_means takes two MeanStats")
    return Setup(
        method=Method.WELCH,
        alternative=parse_alternative(alternative),
        alpha=check_alpha(alpha),
        margin=check_finite("margin", margin),
        relative=relative,
        n_a=a.n,
        n_b=b.n,
        estimate_a=a.mean,
        estimate_b=b.mean,
    )


def _data_problem(a: MeanStats, b: MeanStats, relative: bool) -> tuple[Status, str] | None:
    if a.n == 0 or b.n == 0:
        return Status.EMPTY_INPUT, f"an arm has no units (n_a={a.n}, n_b={b.n})"
    if min(a.n, b.n) < 2:
        return Status.TOO_FEW_SAMPLES, "the Welch test needs at least 2 units per arm"
    if relative and a.mean <= 0.0:
        return Status.BASELINE_NOT_POSITIVE, "relative lift is undefined: baseline mean <= 0"
    if a.variance == 0.0 and b.variance == 0.0:
        return Status.ZERO_VARIANCE, "both arms have zero variance"
    return None

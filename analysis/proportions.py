"""Two-proportion comparisons: pooled z / Farrington-Manning score, Wald, Pearson chi2, Welch t.

Intervals: Newcombe hybrid score ("z", "chi2"), unpooled Wald ("wald"), Welch t ("welch");
`score_interval` is the one that inverts the score test itself (the canary reports it).
"""

from __future__ import annotations

import math

from scipy import optimize

from analysis._core import (
    Effect,
    Setup,
    check_alpha,
    check_finite,
    chi2_sf,
    finish,
    interval,
    norm_ppf,
    p_value,
    parse_alternative,
    relative_effect,
    test_effect,
    unavailable,
    welch_dof,
)
from analysis.results import Alternative, AnalysisWarning, Comparison, Method, Status
from analysis.stats import ProportionStats

_METHODS = (Method.Z, Method.WALD, Method.CHI2, Method.WELCH)


def compare_proportions(
    a: ProportionStats,
    b: ProportionStats,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    margin: float = 0.0,
    method: str = "z",
    yates: bool = False,
    relative: bool = False,
) -> Comparison:
    """Compare the success rate of b (treatment) with a (baseline); `diff` is b - a.

    method: "z" pooled two-proportion z test (default; with a non-zero margin the
    Farrington-Manning score test, whose null-restricted variance works even with
    zero successes), "wald" unpooled z, "chi2" Pearson chi-squared (two-sided, no
    margin; Yates only with ``yates=True``), "welch" Welch t on 0/1 data as gbstats.
    alternative: "two-sided" | "greater" | "less", about b - a. margin: tests
    ``diff - margin`` (non-inferiority / superiority). relative: test the relative
    lift b / a - 1 (delta method, margin relative too) instead of the difference.
    Misuse raises ValueError; data problems return a coded `Comparison`.
    """
    setup = _setup(a, b, alpha, alternative, margin, method, relative)
    if yates and setup.method is not Method.CHI2:
        raise ValueError("yates=True applies only to method='chi2'")
    problem = _data_problem(a, b, setup)
    if problem is not None:
        return unavailable(setup, *problem)
    warnings = _small_sample_warning(a, b)
    if setup.method is Method.WELCH:
        return _welch(a, b, setup, warnings)
    return _normal(a, b, setup, yates, warnings)


def _setup(
    a: ProportionStats,
    b: ProportionStats,
    alpha: float,
    alternative: str,
    margin: float,
    method: str,
    relative: bool,
) -> Setup:
    if not (isinstance(a, ProportionStats) and isinstance(b, ProportionStats)):
        raise ValueError("compare_proportions takes two ProportionStats")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {[m.value for m in _METHODS]}, got {method!r}")
    alt = parse_alternative(alternative)
    margin = check_finite("margin", margin)
    if not relative and abs(margin) >= 1.0:
        raise ValueError(f"an absolute margin on a proportion must be in (-1, 1), got {margin}")
    if method == Method.CHI2 and (alt is not Alternative.TWO_SIDED or margin != 0.0 or relative):
        raise ValueError("method='chi2' is two-sided on the difference with margin 0; use 'z'")
    return Setup(
        method=Method(method),
        alternative=alt,
        alpha=check_alpha(alpha),
        margin=margin,
        relative=relative,
        n_a=a.n,
        n_b=b.n,
        estimate_a=a.mean,
        estimate_b=b.mean,
    )


def _data_problem(
    a: ProportionStats, b: ProportionStats, setup: Setup
) -> tuple[Status, str] | None:
    if a.n == 0 or b.n == 0:
        return Status.EMPTY_INPUT, f"an arm has no units (n_a={a.n}, n_b={b.n})"
    if setup.method is Method.WELCH and min(a.n, b.n) < 2:
        return Status.TOO_FEW_SAMPLES, "the Welch test needs at least 2 units per arm"
    if setup.relative and a.successes == 0:
        return Status.BASELINE_NOT_POSITIVE, "relative lift is undefined: baseline rate is 0"
    if _test_variance(a, b, setup) > 0.0:
        return None
    if a.successes + b.successes == 0:
        return Status.NO_SUCCESSES, "no successes in either arm: the rates cannot be compared"
    return Status.ZERO_VARIANCE, "every unit in each arm has the same outcome"


def _test_variance(a: ProportionStats, b: ProportionStats, setup: Setup) -> float:
    """Variance the chosen test divides by; zero means the test cannot run."""
    unpooled = a.variance / a.n + b.variance / b.n
    if setup.relative:
        rel = relative_effect(
            a.mean, math.sqrt(a.variance / a.n), b.mean, math.sqrt(b.variance / b.n), None
        )
        return 0.0 if rel is None else rel.se**2
    if setup.method in (Method.WALD, Method.WELCH):
        return unpooled
    if setup.method is Method.Z and setup.margin != 0.0:
        return _restricted_variance(a, b, setup.margin)
    pooled = a + b
    return pooled.variance * (1.0 / a.n + 1.0 / b.n)


def _small_sample_warning(a: ProportionStats, b: ProportionStats) -> tuple[AnalysisWarning, ...]:
    # The usual rule of thumb for normal approximations of a binomial count.
    counts = (a.successes, a.n - a.successes, b.successes, b.n - b.successes)
    return (AnalysisWarning.SMALL_SAMPLE,) if min(counts) < 5 else ()


def _normal(
    a: ProportionStats,
    b: ProportionStats,
    setup: Setup,
    yates: bool,
    warnings: tuple[AnalysisWarning, ...],
) -> Comparison:
    se_a, se_b = math.sqrt(a.variance / a.n), math.sqrt(b.variance / b.n)
    absolute = Effect(b.mean - a.mean, math.hypot(se_a, se_b))
    rel = relative_effect(a.mean, se_a, b.mean, se_b, None)
    if setup.relative:
        assert rel is not None  # a.successes > 0 was checked in _data_problem
        test = test_effect(rel, setup.margin, setup.alternative)
    elif setup.method is Method.CHI2:
        test = _chi2_test(a, b, yates)
    elif setup.method is Method.WALD:
        test = test_effect(absolute, setup.margin, setup.alternative)
    else:
        statistic = (absolute.estimate - setup.margin) / math.sqrt(_test_variance(a, b, setup))
        test = statistic, p_value(statistic, setup.alternative, absolute)
    if setup.method is Method.WALD:
        ci = interval(absolute, setup.alpha, setup.alternative)
    else:
        ci = newcombe_interval(a, b, setup.alpha, setup.alternative)
    return finish(setup, absolute, ci, rel, test, warnings)


def _welch(
    a: ProportionStats, b: ProportionStats, setup: Setup, warnings: tuple[AnalysisWarning, ...]
) -> Comparison:
    se2_a, se2_b = a.variance / a.n, b.variance / b.n
    dof = welch_dof(se2_a, a.n, se2_b, b.n)
    absolute = Effect(b.mean - a.mean, math.sqrt(se2_a + se2_b), dof)
    rel = relative_effect(a.mean, math.sqrt(se2_a), b.mean, math.sqrt(se2_b), dof)
    if setup.relative:
        assert rel is not None  # a.successes > 0 was checked in _data_problem
        test = test_effect(rel, setup.margin, setup.alternative)
    else:
        test = test_effect(absolute, setup.margin, setup.alternative)
    ci = interval(absolute, setup.alpha, setup.alternative)
    return finish(setup, absolute, ci, rel, test, warnings)


def _chi2_test(a: ProportionStats, b: ProportionStats, yates: bool) -> tuple[float, float]:
    """Pearson chi-squared of the 2x2 table, with Yates' correction capped at each cell's
    gap exactly as ``scipy.stats.chi2_contingency`` does (pinned by a test), ~20x faster."""
    total, successes = a.n + b.n, a.successes + b.successes
    chi2 = 0.0
    for arm in (a, b):
        for observed, column in (
            (arm.successes, successes),
            (arm.n - arm.successes, total - successes),
        ):
            expected = arm.n * column / total
            gap = expected - observed
            shift = math.copysign(min(0.5, abs(gap)), gap) if yates else 0.0
            chi2 += (observed + shift - expected) ** 2 / expected
    return chi2, chi2_sf(chi2, 1.0)


def _restricted_variance(a: ProportionStats, b: ProportionStats, margin: float) -> float:
    """Variance of p_b - p_a at the MLE restricted to p_b - p_a = margin.

    Farrington & Manning (1990), closed-form root of the likelihood cubic.
    """
    p_b, p_a = _restricted_mle(b.mean, b.n, a.mean, a.n, margin)
    return p_b * (1.0 - p_b) / b.n + p_a * (1.0 - p_a) / a.n


def _restricted_mle(p1: float, n1: int, p2: float, n2: int, delta: float) -> tuple[float, float]:
    """MLE of (p1, p2) under p1 - p2 = delta (Farrington & Manning 1990, eq. in §2)."""
    theta = n2 / n1
    ca = 1.0 + theta
    cb = -(1.0 + theta + p1 + theta * p2 + delta * (theta + 2.0))
    cc = delta**2 + delta * (2.0 * p1 + theta + 1.0) + p1 + theta * p2
    cd = -p1 * delta * (1.0 + delta)
    v = cb**3 / (3.0 * ca) ** 3 - cb * cc / (6.0 * ca**2) + cd / (2.0 * ca)
    u = math.copysign(math.sqrt(max(cb**2 / (3.0 * ca) ** 2 - cc / (3.0 * ca), 0.0)), v)
    if u == 0.0:
        root = -cb / (3.0 * ca)  # triple root of the cubic
    else:
        w = (math.pi + math.acos(max(-1.0, min(1.0, v / u**3)))) / 3.0
        root = 2.0 * u * math.cos(w) - cb / (3.0 * ca)
    p1_tilde = min(1.0, max(0.0, root))
    return p1_tilde, min(1.0, max(0.0, p1_tilde - delta))


def score_interval(
    a: ProportionStats, b: ProportionStats, alpha: float, alternative: Alternative
) -> tuple[float, float]:
    """Farrington-Manning score interval for p_b - p_a: every margin the score test keeps.

    It inverts the test ``compare_proportions(method="z", margin=m)`` runs, so "significant
    at margin m" and "m outside this interval" agree (Miettinen & Nurminen 1985, without
    their n / (n - 1) factor). Both arms need units.
    """
    if a.n == 0 or b.n == 0:
        raise ValueError(f"a score interval needs units in both arms (n_a={a.n}, n_b={b.n})")
    z = -norm_ppf(alpha / 2.0 if alternative is Alternative.TWO_SIDED else alpha)
    diff = b.mean - a.mean

    def excess(delta: float) -> float:
        return _score_z(a, b, delta) - z

    def shortfall(delta: float) -> float:
        return _score_z(a, b, delta) + z

    # z decreases in the margin: it is +inf at -1, 0 at diff and -inf at +1.
    low = -1.0 if diff <= -1.0 else float(optimize.brentq(excess, -1.0, diff, xtol=1e-14))
    high = 1.0 if diff >= 1.0 else float(optimize.brentq(shortfall, diff, 1.0, xtol=1e-14))
    if alternative is Alternative.GREATER:
        return low, math.inf
    if alternative is Alternative.LESS:
        return -math.inf, high
    return low, high


# |z| beyond this is certain rejection at any alpha a float can hold; keeps root finding finite.
_Z_CAP = 1e6


def _score_z(a: ProportionStats, b: ProportionStats, delta: float) -> float:
    """Score statistic of H0: p_b - p_a = delta, finite and continuous in delta."""
    gap = b.mean - a.mean - delta
    if gap == 0.0:
        return 0.0
    variance = _restricted_variance(a, b, delta)
    if variance <= 0.0:
        return math.copysign(_Z_CAP, gap)
    return max(-_Z_CAP, min(_Z_CAP, gap / math.sqrt(variance)))


def wilson_interval(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval for one proportion at normal quantile `z`."""
    p = successes / n
    denominator = 1.0 + z**2 / n
    centre = (p + z**2 / (2.0 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z**2 / (4.0 * n**2))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(
    a: ProportionStats, b: ProportionStats, alpha: float, alternative: Alternative
) -> tuple[float, float]:
    """Newcombe (1998, method 10) hybrid score interval for p_b - p_a."""
    two_sided = alternative is Alternative.TWO_SIDED
    z = norm_ppf(1.0 - alpha / 2.0) if two_sided else norm_ppf(1.0 - alpha)
    low_a, high_a = wilson_interval(a.successes, a.n, z)
    low_b, high_b = wilson_interval(b.successes, b.n, z)
    diff = b.mean - a.mean
    low = diff - math.hypot(b.mean - low_b, high_a - a.mean)
    high = diff + math.hypot(high_b - b.mean, a.mean - low_a)
    if alternative is Alternative.GREATER:
        return low, math.inf
    if alternative is Alternative.LESS:
        return -math.inf, high
    return low, high

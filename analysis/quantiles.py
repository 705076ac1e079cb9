"""Quantile intervals and two-sample quantile comparisons (latency p95, p99).

Exact order-statistic intervals; comparisons by order statistics (Deng et al. 2018) or bootstrap.
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
    finish,
    interval,
    norm_ppf,
    parse_alternative,
    relative_effect,
    test_effect,
    unavailable,
)
from analysis.nonparametric import finite_array
from analysis.results import UNBOUNDED, Alternative, Comparison, Method, Status

Values = Sequence[float] | NDArray[np.float64]
_SE_CONFIDENCE = 0.95  # level of the order-statistic interval the standard error is read from
_CHUNK = 2_000_000  # resampled values held in memory at once


@dataclass(frozen=True)
class QuantileInterval:
    """Order-statistic interval [X_(lower_rank), X_(upper_rank)] (1-based ranks) with
    coverage >= `confidence` for any continuous distribution. When n is too small
    to reach that coverage the missing side is infinite and status is coded."""

    status: Status
    reason: str
    q: float
    estimate: float
    ci: tuple[float, float]
    confidence: float
    lower_rank: int
    upper_rank: int
    n: int


@dataclass(frozen=True)
class Bootstrap:
    """Percentile bootstrap settings; the seed makes every run reproducible."""

    n_resamples: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_resamples < 100:
            raise ValueError(f"n_resamples must be >= 100, got {self.n_resamples}")


def _check_q(q: float) -> float:
    if not (isinstance(q, int | float) and 0.0 < q < 1.0):
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    return float(q)


def order_statistic_ranks(n: int, q: float, confidence: float) -> tuple[int, int]:
    """1-based ranks (j, k) with P(X_(j) <= xi_q < X_(k)) >= confidence.

    #{X_i <= xi_q} ~ Binomial(n, q); ranks outside 1..n mean the side is unbounded.
    """
    tail = (1.0 - confidence) / 2.0
    lower = int(stats.binom.ppf(tail, n, q))
    upper = int(stats.binom.ppf(1.0 - tail, n, q)) + 1
    return lower, upper


def quantile_ci(values: Values, q: float, *, confidence: float = 0.95) -> QuantileInterval:
    """Estimate (numpy's linear interpolation) and exact order-statistic interval of
    the q-quantile; no resampling, no seed, no distributional assumption."""
    q = _check_q(q)
    check_alpha(confidence, "confidence")
    data = np.sort(finite_array("values", values))
    n = int(data.size)
    if n == 0:
        return QuantileInterval(
            Status.EMPTY_INPUT, "no values", q, 0.0, UNBOUNDED, confidence, 0, 1, 0
        )
    lower, upper = order_statistic_ranks(n, q, confidence)
    low = float(data[lower - 1]) if lower >= 1 else -math.inf
    high = float(data[upper - 1]) if upper <= n else math.inf
    status, reason = Status.OK, ""
    if lower < 1 or upper > n:
        status = Status.TOO_FEW_SAMPLES
        reason = f"{n} values cannot bound the {q:g}-quantile at {confidence:g} confidence"
    estimate = float(np.quantile(data, q))
    # Interpolation can put a tiny-sample estimate past an order statistic; widening keeps
    # the coverage guarantee and the estimate inside its own interval.
    ci = (min(low, estimate), max(high, estimate))
    return QuantileInterval(status, reason, q, estimate, ci, confidence, lower, upper, n)


def compare_quantiles(
    x: Values,
    y: Values,
    q: float,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    margin: float = 0.0,
    relative: bool = False,
    bootstrap: Bootstrap | None = None,
) -> Comparison:
    """Compare the q-quantile of y (treatment, canary) with x (baseline); diff = y - x.

    Default: each quantile's standard error is read off its 95% order-statistic
    interval (width / 2z, Deng et al. 2018) and the difference is tested as a
    normal. ``bootstrap=Bootstrap(...)`` resamples instead (percentile interval,
    p-value from the resampled distribution). `relative` tests y / x - 1 against a
    relative margin, e.g. "p95 at most 10% slower": alternative="less", margin=0.1.
    """
    xs, ys = finite_array("x", x), finite_array("y", y)
    setup = _setup(xs, ys, _check_q(q), alpha, alternative, margin, relative, bootstrap)
    problem = _data_problem(xs, ys, q, setup)
    if problem is not None:
        return unavailable(setup, *problem)
    if bootstrap is not None:
        return _bootstrap(xs, ys, q, setup, bootstrap)
    return _order_statistic(xs, ys, q, setup)


def _setup(
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
    q: float,
    alpha: float,
    alternative: str,
    margin: float,
    relative: bool,
    bootstrap: Bootstrap | None,
) -> Setup:
    return Setup(
        method=Method.ORDER_STATISTIC if bootstrap is None else Method.BOOTSTRAP,
        alternative=parse_alternative(alternative),
        alpha=check_alpha(alpha),
        margin=check_finite("margin", margin),
        relative=relative,
        n_a=int(xs.size),
        n_b=int(ys.size),
        estimate_a=float(np.quantile(xs, q)) if xs.size else 0.0,
        estimate_b=float(np.quantile(ys, q)) if ys.size else 0.0,
    )


def _data_problem(
    xs: NDArray[np.float64], ys: NDArray[np.float64], q: float, setup: Setup
) -> tuple[Status, str] | None:
    if xs.size == 0 or ys.size == 0:
        return Status.EMPTY_INPUT, f"a sample is empty (n_x={xs.size}, n_y={ys.size})"
    for n in (xs.size, ys.size):
        lower, upper = order_statistic_ranks(int(n), q, _SE_CONFIDENCE)
        if lower < 1 or upper > n:
            return Status.TOO_FEW_SAMPLES, f"{n} values are too few to bound the {q:g}-quantile"
    if setup.relative and setup.estimate_a <= 0.0:
        return Status.BASELINE_NOT_POSITIVE, "relative lift is undefined: baseline quantile <= 0"
    return None


def _quantile_se(values: NDArray[np.float64], q: float) -> float:
    ordered = np.sort(values)
    lower, upper = order_statistic_ranks(int(ordered.size), q, _SE_CONFIDENCE)
    width = float(ordered[upper - 1] - ordered[lower - 1])
    return width / (2.0 * norm_ppf(0.5 + _SE_CONFIDENCE / 2.0))


def _order_statistic(
    xs: NDArray[np.float64], ys: NDArray[np.float64], q: float, setup: Setup
) -> Comparison:
    se_x, se_y = _quantile_se(xs, q), _quantile_se(ys, q)
    if se_x == 0.0 and se_y == 0.0:
        return unavailable(setup, Status.ZERO_VARIANCE, "both quantile intervals have width 0")
    absolute = Effect(setup.estimate_b - setup.estimate_a, math.hypot(se_x, se_y))
    rel = relative_effect(setup.estimate_a, se_x, setup.estimate_b, se_y, None)
    if setup.relative:
        assert rel is not None  # baseline > 0 was checked in _data_problem
        test = test_effect(rel, setup.margin, setup.alternative)
    else:
        test = test_effect(absolute, setup.margin, setup.alternative)
    ci = interval(absolute, setup.alpha, setup.alternative)
    return finish(setup, absolute, ci, rel, test)


def _resampled_quantiles(
    values: NDArray[np.float64], q: float, boot: Bootstrap, rng: np.random.Generator
) -> NDArray[np.float64]:
    rows = max(1, _CHUNK // values.size)
    parts = []
    for start in range(0, boot.n_resamples, rows):
        size = min(rows, boot.n_resamples - start)
        picks = rng.integers(0, values.size, size=(size, values.size))
        parts.append(np.quantile(values[picks], q, axis=1))
    return np.concatenate(parts)


def _bootstrap(
    xs: NDArray[np.float64], ys: NDArray[np.float64], q: float, setup: Setup, boot: Bootstrap
) -> Comparison:
    rng = np.random.default_rng(boot.seed)
    qx, qy = _resampled_quantiles(xs, q, boot, rng), _resampled_quantiles(ys, q, boot, rng)
    diffs = qy - qx
    lifts = qy / qx - 1.0 if np.all(qx > 0.0) else None
    if setup.relative and lifts is None:
        reason = "a resampled baseline quantile is <= 0"
        return unavailable(setup, Status.BASELINE_NOT_POSITIVE, reason)
    tested = lifts if setup.relative and lifts is not None else diffs
    if float(np.std(tested)) == 0.0:
        return unavailable(setup, Status.ZERO_VARIANCE, "resampled quantiles do not vary")
    absolute = Effect(setup.estimate_b - setup.estimate_a, float(np.std(diffs, ddof=1)))
    rel = None
    if lifts is not None and setup.estimate_a > 0.0:
        rel = Effect(setup.estimate_b / setup.estimate_a - 1.0, float(np.std(lifts, ddof=1)))
    return _finish_bootstrap(setup, absolute, diffs, rel, lifts, tested)


def _percentile_interval(
    draws: NDArray[np.float64], alpha: float, alternative: Alternative
) -> tuple[float, float]:
    if alternative is Alternative.GREATER:
        return float(np.quantile(draws, alpha)), math.inf
    if alternative is Alternative.LESS:
        return -math.inf, float(np.quantile(draws, 1.0 - alpha))
    low, high = np.quantile(draws, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def _bootstrap_p_value(draws: NDArray[np.float64], margin: float, alt: Alternative) -> float:
    # (count + 1) / (B + 1): a Monte Carlo p-value is never exactly 0.
    below = (np.count_nonzero(draws <= margin) + 1) / (draws.size + 1)
    above = (np.count_nonzero(draws >= margin) + 1) / (draws.size + 1)
    if alt is Alternative.GREATER:
        return float(min(1.0, below))
    if alt is Alternative.LESS:
        return float(min(1.0, above))
    return float(min(1.0, 2.0 * min(below, above)))


def _finish_bootstrap(
    setup: Setup,
    absolute: Effect,
    diffs: NDArray[np.float64],
    rel: Effect | None,
    lifts: NDArray[np.float64] | None,
    tested: NDArray[np.float64],
) -> Comparison:
    p = _bootstrap_p_value(tested, setup.margin, setup.alternative)
    ci = _percentile_interval(diffs, setup.alpha, setup.alternative)
    rel_ci = None
    if lifts is not None:
        rel_ci = _percentile_interval(lifts, setup.alpha, setup.alternative)
    return finish(setup, absolute, ci, rel, (None, p), rel_ci=rel_ci)

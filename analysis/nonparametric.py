"""Rank tests on raw value samples: Mann-Whitney U (scipy's implementation).

Ranks see shifts, not spread (kayenta#780): canary latency uses means or quantiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from analysis._core import parse_alternative
from analysis.results import Alternative, Status

_SCIPY_ALTERNATIVE = {
    # Our alternatives are about y (treatment) relative to x (baseline); scipy's about x.
    Alternative.TWO_SIDED: "two-sided",
    Alternative.GREATER: "less",
    Alternative.LESS: "greater",
}
_METHODS = ("auto", "exact", "asymptotic")


@dataclass(frozen=True)
class MannWhitneyResult:
    """`u_statistic` is x's U, as scipy reports it; `prob_y_greater` is
    P(Y > X) + P(Y = X) / 2 (the common-language effect size of y over x)."""

    status: Status
    reason: str
    u_statistic: float
    p_value: float
    prob_y_greater: float
    alternative: Alternative
    method: str
    n_x: int
    n_y: int


def finite_array(name: str, values: Sequence[float] | NDArray[np.float64]) -> NDArray[np.float64]:
    """Values as a 1-d float array; NaN, inf or a non-1-d shape is a ValueError."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain only finite numbers")
    return array


def mann_whitney(
    x: Sequence[float] | NDArray[np.float64],
    y: Sequence[float] | NDArray[np.float64],
    *,
    alternative: str = "two-sided",
    method: str = "auto",
) -> MannWhitneyResult:
    """Mann-Whitney U test of y (treatment) against x (baseline).

    alternative: about y relative to x ("greater": y tends to be larger), like
    every test in this package. method: scipy's "auto" (default: exact for small
    samples without ties), "exact" or "asymptotic" (tie- and continuity-corrected).
    """
    alt = parse_alternative(alternative)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    xs, ys = finite_array("x", x), finite_array("y", y)
    if xs.size == 0 or ys.size == 0:
        return _uninformative(Status.EMPTY_INPUT, "a sample is empty", xs, ys, alt, method)
    if np.ptp(np.concatenate([xs, ys])) == 0.0:
        return _uninformative(Status.ZERO_VARIANCE, "every value is the same", xs, ys, alt, method)
    result = stats.mannwhitneyu(xs, ys, alternative=_SCIPY_ALTERNATIVE[alt], method=method)
    u_x = float(result.statistic)
    return MannWhitneyResult(
        status=Status.OK,
        reason="",
        u_statistic=u_x,
        p_value=min(1.0, float(result.pvalue)),
        prob_y_greater=1.0 - u_x / (xs.size * ys.size),
        alternative=alt,
        method=method,
        n_x=int(xs.size),
        n_y=int(ys.size),
    )


def _uninformative(
    status: Status,
    reason: str,
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
    alternative: Alternative,
    method: str,
) -> MannWhitneyResult:
    u = xs.size * ys.size / 2.0
    return MannWhitneyResult(
        status=status,
        reason=reason,
        u_statistic=u,
        p_value=1.0,
        prob_y_greater=0.5,
        alternative=alternative,
        method=method,
        n_x=int(xs.size),
        n_y=int(ys.size),
    )

"""An independent Farrington-Manning score test for the tests to check `analysis` against.

Farrington & Manning (1990), Statistics in Medicine 9:1447-1454: H0 p_b - p_a = delta is
tested with z = (p_b_hat - p_a_hat - delta) / sqrt(V), V the variance of the difference at
the maximum-likelihood (p_a, p_b) restricted to p_b - p_a = delta. `analysis` solves the
likelihood cubic in closed form; here the restricted MLE is found by bisection on the score
equation instead (it is strictly decreasing in p_a), vectorised over many tables at once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

Array = NDArray[np.float64]


def restricted_mle(
    x_a: ArrayLike, n_a: int, x_b: ArrayLike, n_b: int, delta: float
) -> tuple[Array, Array]:
    """(p_a, p_b) maximising the binomial likelihood subject to p_b - p_a = delta."""
    xa, xb = np.asarray(x_a, dtype=float), np.asarray(x_b, dtype=float)
    low = np.full(np.broadcast(xa, xb).shape, max(0.0, -delta))
    high = np.full_like(low, min(1.0, 1.0 - delta))
    for _ in range(200):  # halves the bracket to far below float resolution
        p_a = (low + high) / 2.0
        p_b = p_a + delta
        with np.errstate(divide="ignore", invalid="ignore"):
            score = xa / p_a - (n_a - xa) / (1.0 - p_a) + xb / p_b - (n_b - xb) / (1.0 - p_b)
        rising = score > 0.0
        low, high = np.where(rising, p_a, low), np.where(rising, high, p_a)
    p_a = (low + high) / 2.0
    return p_a, p_a + delta


def fm_z(x_a: ArrayLike, n_a: int, x_b: ArrayLike, n_b: int, delta: float) -> Array:
    """Farrington-Manning z of H0 p_b - p_a = delta, for each table."""
    p_a, p_b = restricted_mle(x_a, n_a, x_b, n_b, delta)
    variance = p_a * (1.0 - p_a) / n_a + p_b * (1.0 - p_b) / n_b
    gap = np.asarray(x_b, dtype=float) / n_b - np.asarray(x_a, dtype=float) / n_a - delta
    return np.asarray(gap / np.sqrt(variance), dtype=float)


def score_bound(x_a: int, n_a: int, x_b: int, n_b: int, z: float) -> float:
    """The margin delta at which the score z equals `z`: a bound of the score interval."""
    diff = x_b / n_b - x_a / n_a

    def gap(delta: float) -> float:
        return float(fm_z(x_a, n_a, x_b, n_b, delta)) - z

    edge = 1.0 - 1e-9
    bracket = (-edge, diff) if z > 0 else (diff, edge)
    return float(optimize.brentq(gap, *bracket, xtol=1e-13))

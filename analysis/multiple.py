"""Multiple-comparison adjustment of p-values across metrics or arms: Holm and BH."""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from scipy import stats


class Adjustment(StrEnum):
    """Which error rate `adjust_pvalues` controls."""

    HOLM = "holm"  # family-wise error rate (Holm 1979), valid under any dependence
    BH = "bh"  # false discovery rate (Benjamini & Hochberg 1995), independent/PRDS tests


def adjust_pvalues(pvalues: Sequence[float], *, method: str = "holm") -> tuple[float, ...]:
    """Adjusted p-values in input order: reject hypothesis i when adjusted[i] < alpha.

    "holm": step-down Bonferroni, controls the family-wise error rate.
    "bh": Benjamini-Hochberg step-up (``scipy.stats.false_discovery_control``),
    controls the false discovery rate. An empty input gives an empty tuple.
    """
    if method not in tuple(Adjustment):
        raise ValueError(f"method must be 'holm' or 'bh', got {method!r}")
    values = [float(p) for p in pvalues]
    if any(not (math.isfinite(p) and 0.0 <= p <= 1.0) for p in values):
        raise ValueError(f"p-values must be numbers in [0, 1], got {values}")
    if not values:
        return ()
    if method == Adjustment.BH:
        adjusted = stats.false_discovery_control(values, method="bh")
        return tuple(float(p) for p in np.atleast_1d(adjusted))
    return _holm(np.asarray(values))


def _holm(pvalues: np.ndarray[tuple[int], np.dtype[np.float64]]) -> tuple[float, ...]:
    m = pvalues.size
    order = np.argsort(pvalues, kind="stable")
    # The k-th smallest p (0-based) is multiplied by m - k; a running max keeps order.
    scaled = np.maximum.accumulate(pvalues[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(scaled, 1.0)
    return tuple(float(p) for p in adjusted)

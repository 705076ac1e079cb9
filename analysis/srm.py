"""Sample ratio mismatch: did traffic split the way the experiment configured it?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from analysis._core import check_alpha
from analysis.results import Status


@dataclass(frozen=True)
class SrmResult:
    """Pearson chi-squared goodness of fit of counts to the configured split.

    `mismatch` is ``p_value < threshold`` and ``max_deviation > min_deviation``;
    `max_deviation` is the largest absolute gap between observed and expected
    shares (a practical-size guard against alert fatigue at huge n).
    """

    status: Status
    reason: str
    chi2: float
    p_value: float
    dof: int
    mismatch: bool
    expected_counts: tuple[float, ...]
    max_deviation: float
    threshold: float


def srm_check(
    observed_counts: Sequence[int],
    expected_weights: Sequence[float],
    *,
    threshold: float = 0.001,
    min_deviation: float = 0.0,
) -> SrmResult:
    """Chi-squared test of observed arm counts against configured weights (gbstats, Eppo).

    Weights need not sum to 1. An arm with weight 0 that received units is a
    mismatch outright (chi2 = inf, p = 0). No units at all is coded ``empty_input``.
    """
    counts, weights = _validate(observed_counts, expected_weights, threshold, min_deviation)
    total = sum(counts)
    if total == 0:
        return _empty(len(counts), threshold)
    shares = [w / sum(weights) for w in weights]
    expected = tuple(s * total for s in shares)
    deviation = max(abs(c / total - s) for c, s in zip(counts, shares, strict=True))
    if any(c > 0 and e == 0.0 for c, e in zip(counts, expected, strict=True)):
        chi2, p = math.inf, 0.0
        reason = "units arrived in an arm whose configured weight is 0"
    else:
        kept = [(c, e) for c, e in zip(counts, expected, strict=True) if e > 0.0]
        fit = stats.chisquare([c for c, _ in kept], [e for _, e in kept])
        chi2, p, reason = float(fit.statistic), float(fit.pvalue), ""
    return SrmResult(
        status=Status.OK,
        reason=reason,
        chi2=chi2,
        p_value=p,
        dof=sum(1 for e in expected if e > 0.0) - 1,
        mismatch=p < threshold and deviation > min_deviation,
        expected_counts=expected,
        max_deviation=deviation,
        threshold=threshold,
    )


def _empty(arms: int, threshold: float) -> SrmResult:
    return SrmResult(
        status=Status.EMPTY_INPUT,
        reason="no units observed",
        chi2=0.0,
        p_value=1.0,
        dof=arms - 1,
        mismatch=False,
        expected_counts=tuple(0.0 for _ in range(arms)),
        max_deviation=0.0,
        threshold=threshold,
    )


def _validate(
    observed_counts: Sequence[int],
    expected_weights: Sequence[float],
    threshold: float,
    min_deviation: float,
) -> tuple[list[int], list[float]]:
    counts, weights = list(observed_counts), [float(w) for w in expected_weights]
    if len(counts) != len(weights):
        raise ValueError(f"{len(counts)} counts but {len(weights)} weights")
    if len(counts) < 2:
        raise ValueError("an SRM check needs at least two arms")
    if any(isinstance(c, bool) or int(c) != c or c < 0 for c in counts):
        raise ValueError(f"observed counts must be non-negative integers, got {counts}")
    if any(not math.isfinite(w) or w < 0.0 for w in weights) or sum(weights) <= 0.0:
        raise ValueError(f"weights must be finite, >= 0 and not all 0, got {weights}")
    check_alpha(threshold, "threshold")
    if not 0.0 <= min_deviation < 1.0:
        raise ValueError(f"min_deviation must be in [0, 1), got {min_deviation}")
    return [int(c) for c in counts], weights

"""Sample ratio mismatch: did traffic split the way the experiment configured it?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis._core import check_alpha
from analysis.results import Status


@dataclass(frozen=True)
class SrmResult:
    """Pearson chi-squared goodness of fit of counts to the configured split.

    `mismatch` is ``p_value < threshold`` and ``max_deviation > min_deviation``, or
    units in an arm of weight 0; `max_deviation` is the largest absolute gap between
    observed and expected shares (a practical-size guard against alert fatigue at huge
    n). `status` is not ``ok`` when there was nothing to test (see `srm_check`).
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

    Weights need not sum to 1; weight 0 configures an arm off. Units in such an arm are
    a mismatch outright (chi2 = inf, p = 0, whatever `min_deviation`). Data with nothing
    to test are coded, never NaN: no units at all is ``empty_input``, and a split with a
    single arm of positive weight is ``single_arm`` (p = 1, no mismatch). Fewer than two
    configured arms is misuse and raises ``ValueError``.
    """
    counts, weights = _validate(observed_counts, expected_weights, threshold, min_deviation)
    total = sum(counts)
    if total == 0:
        return _nothing_to_test(Status.EMPTY_INPUT, "no units observed", counts, threshold)
    scaled = [w / max(weights) for w in weights]  # so that huge weights cannot overflow a sum
    shares = [w / sum(scaled) for w in scaled]
    expected = tuple(share * total for share in shares)
    deviation = max(abs(c / total - s) for c, s in zip(counts, shares, strict=True))
    live = [(c, e) for c, e in zip(counts, expected, strict=True) if e > 0.0]
    if sum(c for c, _ in live) < total:
        chi2, p, mismatch = math.inf, 0.0, True
        reason = "units arrived in an arm whose configured weight is 0"
    elif len(live) < 2:
        reason = "only one arm has a positive weight: there is no split to test"
        return _nothing_to_test(Status.SINGLE_ARM, reason, counts, threshold, expected)
    else:
        with np.errstate(over="ignore"):  # a tiny expected count can make a term inf: p = 0
            fit = stats.chisquare([c for c, _ in live], [e for _, e in live])
        chi2, p, reason = float(fit.statistic), float(fit.pvalue), ""
        mismatch = p < threshold and deviation > min_deviation
    return SrmResult(
        status=Status.OK,
        reason=reason,
        chi2=chi2,
        p_value=p,
        dof=len(live) - 1,
        mismatch=mismatch,
        expected_counts=expected,
        max_deviation=deviation,
        threshold=threshold,
    )


def _nothing_to_test(
    status: Status,
    reason: str,
    counts: list[int],
    threshold: float,
    expected: tuple[float, ...] | None = None,
) -> SrmResult:
    """The coded result: every unit sits where the split put it, so p = 1 and no mismatch."""
    return SrmResult(
        status=status,
        reason=reason,
        chi2=0.0,
        p_value=1.0,
        dof=0 if expected is not None else len(counts) - 1,
        mismatch=False,
        expected_counts=expected if expected is not None else tuple(0.0 for _ in counts),
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

"""Result types and status codes shared by every test in the engine.

Data problems come back here as a `Status` plus a reason, never as NaN or an exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Alternative(StrEnum):
    """Alternative hypothesis about b - a (treatment minus baseline)."""

    TWO_SIDED = "two-sided"
    GREATER = "greater"
    LESS = "less"


class Method(StrEnum):
    """How a `Comparison` was computed."""

    Z = "z"  # pooled two-proportion z (Farrington-Manning score test when margin != 0)
    WALD = "wald"  # unpooled z on the difference
    CHI2 = "chi2"  # Pearson chi-squared on the 2x2 table
    WELCH = "welch"  # Welch t, Satterthwaite degrees of freedom
    PAIRED_T = "paired_t"  # t on per-item differences, n - 1 degrees of freedom
    ORDER_STATISTIC = "order_statistic"  # quantiles: binomial order-statistic intervals
    BOOTSTRAP = "bootstrap"  # quantiles: seeded percentile bootstrap


class Status(StrEnum):
    """Why a result could (``ok``) or could not be computed from the data given."""

    OK = "ok"
    EMPTY_INPUT = "empty_input"
    TOO_FEW_SAMPLES = "too_few_samples"
    ZERO_VARIANCE = "zero_variance"
    NO_SUCCESSES = "no_successes"
    BASELINE_NOT_POSITIVE = "baseline_not_positive"
    SINGLE_ARM = "single_arm"  # only one arm is left to compare (an SRM split with one weight > 0)


class AnalysisWarning(StrEnum):
    """Caveats on a result that was computed (status ``ok``) or partly computed."""

    BASELINE_NOT_POSITIVE = "baseline_not_positive"  # relative lift left out
    SMALL_SAMPLE = "small_sample"  # fewer than 5 successes or failures in an arm


UNBOUNDED: tuple[float, float] = (-math.inf, math.inf)


@dataclass(frozen=True)
class Comparison:
    """Two-arm comparison of b (treatment, canary) against a (baseline, control).

    `diff` is b - a. `diff_ci` matches `alternative`: two-sided, or half-open
    ``(low, inf)`` for "greater" and ``(-inf, high)`` for "less". `rel_lift` is
    b / a - 1 with a delta-method interval (the percentile interval for the bootstrap),
    ``None`` when a's estimate is <= 0.
    `diff_se` is the unpooled standard error of `diff` (the "z" test itself pools).
    The test is of ``diff - margin`` (or ``rel_lift - margin`` when `relative`).
    When `status` is not ``ok``: `p_value` is 1.0, `significant` is False,
    `statistic` is None and intervals are unbounded; `reason` says why.
    """

    method: Method
    alternative: Alternative
    status: Status
    reason: str
    estimate_a: float
    estimate_b: float
    diff: float
    diff_se: float
    diff_ci: tuple[float, float]
    rel_lift: float | None
    rel_lift_se: float | None
    rel_lift_ci: tuple[float, float] | None
    statistic: float | None
    p_value: float
    dof: float | None
    significant: bool
    alpha: float
    margin: float
    relative: bool
    n_a: int
    n_b: int
    warnings: tuple[AnalysisWarning, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

"""Bayesian read-out of an effect: Gaussian posterior, chance to win and risk (gbstats).

Chance to win is P(effect > 0 | data), not 1 - p; risk is the expected loss of a choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analysis._core import check_alpha, norm_ppf, norm_sf
from analysis.means import compare_means
from analysis.proportions import compare_proportions
from analysis.results import UNBOUNDED, Comparison, Status
from analysis.stats import MeanStats, ProportionStats


@dataclass(frozen=True)
class GaussianPrior:
    """Normal prior on the effect (relative lift when `relative`); None means flat."""

    mean: float = 0.0
    variance: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and math.isfinite(self.variance) and self.variance > 0):
            raise ValueError(f"prior needs a finite mean and variance > 0, got {self}")


@dataclass(frozen=True)
class BayesianResult:
    """Posterior of b vs a: `expected` effect, its `sd`, a central credible interval,
    `chance_to_win` = P(effect > 0), `risk_a` / `risk_b` = expected loss of shipping
    a / b (gbstats' risk[0], risk[1]). Non-``ok`` status: chance 0.5, zero risk."""

    status: Status
    reason: str
    expected: float
    sd: float
    credible_interval: tuple[float, float]
    chance_to_win: float
    risk_a: float
    risk_b: float
    relative: bool


def bayesian_effect(
    a: ProportionStats | MeanStats,
    b: ProportionStats | MeanStats,
    *,
    prior: GaussianPrior | None = None,
    alpha: float = 0.05,
    relative: bool = True,
) -> BayesianResult:
    """Gaussian posterior of the effect of b over a (relative lift by default, as gbstats).

    The likelihood is the delta-method normal of `compare_*`; a flat prior (None)
    makes the posterior that normal itself.
    """
    alpha = check_alpha(alpha)
    data = _moments(a, b, relative)
    if not data.ok:
        return BayesianResult(
            data.status, data.reason, 0.0, 0.0, UNBOUNDED, 0.5, 0.0, 0.0, relative
        )
    mean, se = (data.rel_lift, data.rel_lift_se) if relative else (data.diff, data.diff_se)
    assert mean is not None and se is not None  # status ok implies both exist
    mean, sd = _posterior(mean, se, prior)
    width = norm_ppf(1.0 - alpha / 2.0) * sd
    risk_a, risk_b = _expected_positive_part(mean, sd), _expected_positive_part(-mean, sd)
    return BayesianResult(
        status=Status.OK,
        reason="",
        expected=mean,
        sd=sd,
        credible_interval=(mean - width, mean + width),
        chance_to_win=norm_sf(-mean / sd),
        risk_a=risk_a,
        risk_b=risk_b,
        relative=relative,
    )


def _moments(
    a: ProportionStats | MeanStats, b: ProportionStats | MeanStats, relative: bool
) -> Comparison:
    if isinstance(a, ProportionStats) and isinstance(b, ProportionStats):
        return compare_proportions(a, b, method="wald", relative=relative)
    if isinstance(a, MeanStats) and isinstance(b, MeanStats):
        return compare_means(a, b, relative=relative)
    raise ValueError("bayesian_effect takes two ProportionStats or two MeanStats")


def _posterior(mean: float, se: float, prior: GaussianPrior | None) -> tuple[float, float]:
    if prior is None:
        return mean, se
    precision = 1.0 / se**2 + 1.0 / prior.variance
    posterior_mean = (mean / se**2 + prior.mean / prior.variance) / precision
    return posterior_mean, math.sqrt(1.0 / precision)


def _expected_positive_part(mean: float, sd: float) -> float:
    """E[max(X, 0)] for X ~ N(mean, sd^2), closed form (no truncnorm overflow)."""
    z = mean / sd
    density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return mean * norm_sf(-z) + sd * density

"""Sizing the always-valid test and always-valid looks from any normal comparison.

The half-width is recomputed here from gbstats' published formula (anchors, ab_stats.md §2):
halfwidth = sqrt(s2) * sqrt(2 (N rho^2 + 1) ln(sqrt(N rho^2 + 1) / alpha) / (N rho)^2),
rho = sqrt((-2 ln alpha + ln(-2 ln alpha + 1)) / N*), s2 = N * se^2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis import (
    ProportionStats,
    compare_proportions,
    compare_quantiles,
    sample_size_proportions,
    sequential_comparison,
    sequential_proportions,
    sequential_sample_size,
)


def _gbstats_halfwidth(se: float, n: float, n_star: float, alpha: float) -> float:
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / n_star)
    s2 = n * se * se
    nr2 = n * rho * rho + 1
    return math.sqrt(s2) * math.sqrt(2 * nr2 * math.log(math.sqrt(nr2) / alpha) / (n * rho) ** 2)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_the_sequential_sample_is_the_fixed_one_scaled_to_the_wider_interval(alpha: float) -> None:
    fixed = sample_size_proportions(0.9, 0.03, alpha=alpha, power=0.8)
    planned = sequential_sample_size(fixed)
    # At n = n_star the half-width is c standard errors, whatever the data.
    c = _gbstats_halfwidth(1.0, 1000.0, 1000.0, alpha)
    z_crit, z_power = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(0.8)
    expected = fixed.n_a_exact * ((c + z_power) / (z_crit + z_power)) ** 2
    assert planned.n_a_exact == pytest.approx(expected, rel=1e-12)
    assert planned.n_a == math.ceil(expected) and planned.n_b == planned.n_a
    assert (planned.alpha, planned.power, planned.mde) == (alpha, 0.8, 0.03)


def test_at_alpha_5_percent_the_sequence_is_3_04_standard_errors_wide_at_n_star() -> None:
    assert _gbstats_halfwidth(1.0, 10.0, 10.0, 0.05) == pytest.approx(3.0352, abs=1e-4)
    a, b = ProportionStats(2596, 2336), ProportionStats(2596, 2414)
    look = sequential_proportions(a, b, n_star=2 * 2596)
    half = (look.ci[1] - look.ci[0]) / 2
    assert half == pytest.approx(_gbstats_halfwidth(look.se, 2 * 2596, 2 * 2596, 0.05))
    assert half / look.se == pytest.approx(3.0352, abs=1e-4)


def test_an_unequal_split_keeps_its_ratio() -> None:
    fixed = sample_size_proportions(0.9, 0.03, ratio=0.25)
    planned = sequential_sample_size(fixed)
    assert planned.n_b_exact == pytest.approx(planned.n_a_exact * 0.25)


def test_a_look_from_a_wald_comparison_is_the_sequential_proportions_look() -> None:
    a, b = ProportionStats(3000, 1396), ProportionStats(3461, 2422)
    direct = sequential_proportions(a, b, n_star=5000)
    via = sequential_comparison(compare_proportions(a, b, method="wald"), n_star=5000)
    assert (via.ci, via.p_value, via.decision) == (direct.ci, direct.p_value, direct.decision)


def test_a_quantile_look_is_as_wide_as_the_published_formula_says() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.lognormal(5.0, 0.5, 4000), rng.lognormal(5.05, 0.5, 4000)
    fixed = compare_quantiles(x, y, 0.95)
    look = sequential_comparison(fixed, alpha=0.05, n_star=8000, margin=0.0)
    half = (look.ci[1] - look.ci[0]) / 2
    assert look.estimate == fixed.diff and look.se == fixed.diff_se
    assert half == pytest.approx(_gbstats_halfwidth(fixed.diff_se, 8000, 8000, 0.05))
    assert half > (fixed.diff_ci[1] - fixed.diff_ci[0]) / 2  # wider than the fixed interval


def test_the_comparison_must_be_of_the_effect_asked_for() -> None:
    fixed = compare_proportions(ProportionStats(100, 50), ProportionStats(100, 60))
    with pytest.raises(ValueError, match="relative=False, asked for relative=True"):
        sequential_comparison(fixed, relative=True)

"""Sample sizes and minimum detectable effects."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis import (
    ProportionStats,
    compare_proportions,
    mde,
    sample_size_means,
    sample_size_proportions,
)


def test_proportion_sample_size_matches_statsmodels() -> None:
    # statsmodels 0.15 samplesize_proportions_2indep_onetail(diff=0.05, prop2=0.10, power=0.8,
    # alpha=0.05, alternative="two-sided") = 685.596858325361.
    size = sample_size_proportions(0.10, 0.05)
    assert size.n_a_exact == pytest.approx(685.596858325361, rel=1e-12)
    assert (size.n_a, size.n_b, size.total) == (686, 686, 1372)


def test_unequal_allocation_for_means_matches_statsmodels() -> None:
    # statsmodels 0.15 TTestIndPower().solve_power(0.5, alpha=0.05, power=0.8, ratio=2)
    # = 47.741920646056975; one-sided ("larger") = 50.15078338685744.
    assert sample_size_means(1.0, 0.5, ratio=2).n_a_exact == pytest.approx(47.74192064, rel=1e-7)
    one_sided = sample_size_means(1.0, 0.5, alternative="greater").n_a_exact
    assert one_sided == pytest.approx(50.15078338685744, rel=1e-7)


def test_mde_for_means_matches_statsmodels_and_gives_exactly_the_power() -> None:
    # statsmodels 0.15 TTestIndPower().solve_power(nobs1=100, alpha=0.05, power=0.8)
    # = 0.3981391138964959 standard deviations (its solver stops at ~2e-6 power error).
    effect = mde(100, sd=2.0)
    assert effect == pytest.approx(2 * 0.3981391138964959, rel=1e-5)
    # Independent check with scipy.stats.nct: power at that effect is 0.8.
    d, dof = effect / 2.0, 198
    nc, crit = d * math.sqrt(50), stats.t.ppf(0.975, dof)
    power = stats.nct.sf(crit, dof, nc) + stats.nct.cdf(-crit, dof, nc)
    assert power == pytest.approx(0.8, abs=1e-10)


def test_mde_inverts_sample_size() -> None:
    size = sample_size_proportions(0.02, 0.005)
    assert mde(size.n_a_exact, p_baseline=0.02) == pytest.approx(0.005, rel=1e-6)
    assert mde(10, p_baseline=0.9) == math.inf


def test_simulated_power_at_the_computed_size_is_about_eighty_percent() -> None:
    size = sample_size_proportions(0.10, 0.03)
    rng = np.random.default_rng(7)
    runs = 2000
    a = rng.binomial(size.n_a, 0.10, runs)
    b = rng.binomial(size.n_b, 0.13, runs)
    detected = sum(
        compare_proportions(
            ProportionStats(size.n_a, int(x)), ProportionStats(size.n_b, int(y))
        ).significant
        for x, y in zip(a, b, strict=True)
    )
    print(f"\nsimulated power at n={size.n_a}/arm (target 0.80): {detected / runs:.3f}")
    assert 0.77 <= detected / runs <= 0.83


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sample_size_proportions(0.0, 0.1), "p_baseline"),
        (lambda: sample_size_proportions(0.5, 0.6), "mde"),
        (lambda: sample_size_proportions(0.5, 0.1, power=1.0), "power"),
        (lambda: sample_size_means(0.0, 1.0), "sd"),
        (lambda: sample_size_means(1.0, 1.0, ratio=0.0), "ratio"),
        (lambda: mde(100), "exactly one"),
        (lambda: mde(1, sd=1.0), "n_per_arm"),
    ],
)
def test_misuse_raises_value_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]

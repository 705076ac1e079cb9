"""Sample size and minimum detectable effect for fixed-horizon two-arm tests.

Proportions: pooled z, normal approximation. Means: noncentral t (as statsmodels, R pwr).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize, special

from analysis._core import check_alpha, check_finite, norm_ppf, parse_alternative, t_ppf
from analysis.results import Alternative


@dataclass(frozen=True)
class SampleSize:
    """Units needed per arm; `n_b` = `ratio` x `n_a`. Exact values are before rounding up."""

    n_a: int
    n_b: int
    n_a_exact: float
    n_b_exact: float
    alpha: float
    power: float
    mde: float
    alternative: Alternative

    @property
    def total(self) -> int:
        return self.n_a + self.n_b


def _settings(alpha: float, power: float, alternative: str, ratio: float) -> Alternative:
    check_alpha(alpha)
    check_alpha(power, "power")
    if not check_finite("ratio", ratio) > 0.0:
        raise ValueError(f"ratio must be > 0, got {ratio}")
    return parse_alternative(alternative)


def _critical_z(alpha: float, alternative: Alternative) -> float:
    return norm_ppf(1.0 - alpha / 2.0 if alternative is Alternative.TWO_SIDED else 1.0 - alpha)


def _check_rates(p_baseline: float, mde: float) -> None:
    if not 0.0 < check_finite("p_baseline", p_baseline) < 1.0:
        raise ValueError(f"p_baseline must be in (0, 1), got {p_baseline}")
    if not (check_finite("mde", mde) != 0.0 and 0.0 < p_baseline + mde < 1.0):
        raise ValueError(f"mde must be non-zero with p_baseline + mde in (0, 1), got {mde}")


def _proportions_n_a(
    p_a: float, mde: float, alpha: float, power: float, alternative: Alternative, ratio: float
) -> float:
    p_b = p_a + mde
    pooled = (p_a + ratio * p_b) / (1.0 + ratio)
    null_sd = math.sqrt(pooled * (1.0 - pooled) * (1.0 + 1.0 / ratio))
    alt_sd = math.sqrt(p_a * (1.0 - p_a) + p_b * (1.0 - p_b) / ratio)
    return (_critical_z(alpha, alternative) * null_sd + norm_ppf(power) * alt_sd) ** 2 / mde**2


def sample_size_proportions(
    p_baseline: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    ratio: float = 1.0,
) -> SampleSize:
    """Units per arm for the pooled z test to detect p_baseline -> p_baseline + mde.

    `mde` is absolute (0.01 = one point); for a relative MDE pass p_baseline * lift.
    Two-sided sizes ignore the far tail, as R's power.prop.test and statsmodels'
    samplesize_proportions_2indep_onetail do.
    """
    alt = _settings(alpha, power, alternative, ratio)
    _check_rates(p_baseline, mde)
    n_a = _proportions_n_a(p_baseline, mde, alpha, power, alt, ratio)
    return _sample_size(n_a, ratio, alpha, power, mde, alt)


def _sample_size(
    n_a: float, ratio: float, alpha: float, power: float, mde: float, alt: Alternative
) -> SampleSize:
    return SampleSize(
        n_a=math.ceil(n_a - 1e-9),
        n_b=math.ceil(n_a * ratio - 1e-9),
        n_a_exact=n_a,
        n_b_exact=n_a * ratio,
        alpha=alpha,
        power=power,
        mde=mde,
        alternative=alt,
    )


def _t_power(d: float, n_a: float, ratio: float, alpha: float, alternative: Alternative) -> float:
    """Power of the two-sample t test at standardised effect d (noncentral t)."""
    n_b = n_a * ratio
    dof = n_a + n_b - 2.0
    noncentrality = d / math.sqrt(1.0 / n_a + 1.0 / n_b)
    if alternative is Alternative.TWO_SIDED:
        crit = t_ppf(1.0 - alpha / 2.0, dof)
        upper = 1.0 - float(special.nctdtr(dof, noncentrality, crit))
        return upper + float(special.nctdtr(dof, noncentrality, -crit))
    crit = t_ppf(1.0 - alpha, dof)
    return 1.0 - float(special.nctdtr(dof, abs(noncentrality), crit))


def sample_size_means(
    sd: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    ratio: float = 1.0,
) -> SampleSize:
    """Units per arm for the two-sample t test to detect a mean shift of `mde`
    when both arms have standard deviation `sd` (noncentral t, solved exactly)."""
    alt = _settings(alpha, power, alternative, ratio)
    if not (check_finite("sd", sd) > 0.0 and check_finite("mde", mde) != 0.0):
        raise ValueError(f"sd must be > 0 and mde non-zero, got sd={sd}, mde={mde}")
    n_a = _solve_n(abs(mde) / sd, ratio, alpha, power, alt)
    return _sample_size(n_a, ratio, alpha, power, mde, alt)


def _solve_n(d: float, ratio: float, alpha: float, power: float, alt: Alternative) -> float:
    low = max(2.0, 2.0 / ratio) + 1e-9  # at least two units in each arm
    if _t_power(d, low, ratio, alpha, alt) >= power:
        return low
    high = 2.0 * low
    while _t_power(d, high, ratio, alpha, alt) < power:
        high *= 2.0

    def shortfall(n: float) -> float:
        return _t_power(d, n, ratio, alpha, alt) - power

    return float(optimize.brentq(shortfall, low, high, xtol=1e-10))


def mde(
    n_per_arm: float,
    *,
    p_baseline: float | None = None,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
) -> float:
    """Smallest absolute effect detectable with `n_per_arm` units in each arm.

    Give exactly one of `p_baseline` (proportions: the increase over it, ``math.inf``
    when even p -> 1 is not detectable) or `sd` (means, noncentral t).
    """
    alt = _settings(alpha, power, alternative, 1.0)
    if (p_baseline is None) == (sd is None):
        raise ValueError("give exactly one of p_baseline (proportions) or sd (means)")
    if not check_finite("n_per_arm", n_per_arm) >= 2.0:
        raise ValueError(f"n_per_arm must be >= 2, got {n_per_arm}")
    if sd is not None:
        if not check_finite("sd", sd) > 0.0:
            raise ValueError(f"sd must be > 0, got {sd}")
        return sd * _solve_d(n_per_arm, alpha, power, alt)
    assert p_baseline is not None
    return _proportions_mde(p_baseline, n_per_arm, alpha, power, alt)


def _solve_d(n: float, alpha: float, power: float, alt: Alternative) -> float:
    def shortfall(d: float) -> float:
        return _t_power(d, n, 1.0, alpha, alt) - power

    high = 1.0
    while shortfall(high) < 0.0:
        high *= 2.0
    return float(optimize.brentq(shortfall, 1e-9, high, xtol=1e-12))


def _proportions_mde(
    p_baseline: float, n: float, alpha: float, power: float, alt: Alternative
) -> float:
    _check_rates(p_baseline, 1e-12)

    def excess(m: float) -> float:
        return _proportions_n_a(p_baseline, m, alpha, power, alt, 1.0) - n

    top = (1.0 - p_baseline) * (1.0 - 1e-12)
    if excess(top) > 0.0:
        return math.inf
    return float(optimize.brentq(excess, 1e-12, top, xtol=1e-14))

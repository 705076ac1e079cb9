"""The SLO test: exact one-sided binomial, checked against direct binomial tail sums."""

from __future__ import annotations

import math

import pytest

from analysis.exceedance import binomial_exceedance


def _tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed term by term (independent of scipy)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


@pytest.mark.parametrize(("k", "n", "limit"), [(30, 1000, 0.02), (12, 200, 0.05), (0, 50, 0.01)])
def test_the_p_value_is_the_binomial_upper_tail(k: int, n: int, limit: float) -> None:
    result = binomial_exceedance(k, n, limit)
    assert result.p_value == pytest.approx(_tail(k, n, limit), rel=1e-9)


def test_a_share_shown_above_the_limit_is_exceeded_and_one_at_it_is_not() -> None:
    assert binomial_exceedance(40, 1000, 0.02).exceeded  # 4% vs 2%: p ~ 1e-4
    assert not binomial_exceedance(21, 1000, 0.02).exceeded  # 2.1%: noise
    assert not binomial_exceedance(0, 0, 0.02).exceeded


@pytest.mark.parametrize(("k", "n", "limit"), [(-1, 5, 0.1), (6, 5, 0.1), (1, 5, 1.0)])
def test_misuse_raises(k: int, n: int, limit: float) -> None:
    with pytest.raises(ValueError):
        binomial_exceedance(k, n, limit)

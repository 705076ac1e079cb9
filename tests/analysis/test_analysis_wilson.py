"""The Wilson score interval the evaluate flow reports beside accuracy, pinned to published values.

Reference: R. G. Newcombe (1998), "Two-sided confidence intervals for the single proportion:
comparison of seven methods", Statistics in Medicine 17:857-872: its four worked examples,
method 3 (score method without continuity correction, Wilson 1927), 95% intervals to 4 decimals.
"""

from __future__ import annotations

import pytest

from analysis.proportions import wilson_interval

Z_95 = 1.959963984540054  # standard normal 0.975 quantile


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe_1998_worked_examples(
    successes: int, n: int, low: float, high: float
) -> None:
    assert wilson_interval(successes, n, Z_95) == pytest.approx((low, high), abs=5e-5)

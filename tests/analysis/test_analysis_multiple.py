"""adjust_pvalues: Holm and Benjamini-Hochberg."""

from __future__ import annotations

import pytest

from analysis import adjust_pvalues


def test_holm_matches_hand_computed_step_down() -> None:
    # Holm (1979) by hand: sorted p x (5, 4, 3, 2, 1) = .05 .08 .09 .08 .05, then a running max.
    # statsmodels multipletests(method="holm") gives the same [0.05, 0.09, 0.09, 0.08, 0.09].
    adjusted = adjust_pvalues([0.01, 0.04, 0.03, 0.02, 0.05], method="holm")
    assert adjusted == pytest.approx((0.05, 0.09, 0.09, 0.08, 0.09))


def test_holm_on_benjamini_hochberg_1995_data() -> None:
    # statsmodels 0.15 multipletests(method="holm") on the anchor's 15 p-values.
    pvalues = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459]
    pvalues += [0.324, 0.4262, 0.5719, 0.6528, 0.759, 1.0]
    expected = [0.0015, 0.0056, 0.0247, 0.114, 0.2211, 0.278, 0.278, 0.278, 0.3213]
    expected += [1.0] * 6
    assert adjust_pvalues(pvalues) == pytest.approx(expected)


def test_adjusted_p_values_never_fall_below_the_raw_ones_and_cap_at_one() -> None:
    raw = [0.2, 0.5, 0.01, 0.9]
    for method in ("holm", "bh"):
        adjusted = adjust_pvalues(raw, method=method)
        assert all(r <= a <= 1.0 for r, a in zip(raw, adjusted, strict=True))


def test_single_and_empty_inputs() -> None:
    assert adjust_pvalues([0.03]) == (0.03,)
    assert adjust_pvalues([0.03], method="bh") == (0.03,)
    assert adjust_pvalues([]) == ()


@pytest.mark.parametrize(
    ("pvalues", "method"),
    [([0.1, 1.2], "holm"), ([-0.1], "bh"), ([float("nan")], "holm"), ([0.1], "bonferroni")],
)
def test_misuse_raises_value_error(pvalues: list[float], method: str) -> None:
    with pytest.raises(ValueError):
        adjust_pvalues(pvalues, method=method)

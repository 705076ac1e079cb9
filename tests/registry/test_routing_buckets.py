"""Bucket ranges under arbitrary sequences of weight changes: the invariants always hold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.buckets import BUCKETS, Layout, check_layout, compress, expand, reallocate

Weights = dict[int, int]


@st.composite
def weight_maps(draw: st.DrawFn) -> Weights:
    """1 to 5 versions out of 8, with whole-percent weights (some 0) summing to 100."""
    versions = draw(st.lists(st.integers(1, 8), min_size=1, max_size=5, unique=True))
    cuts = draw(
        st.lists(st.integers(0, 100), min_size=len(versions) - 1, max_size=len(versions) - 1)
    )
    bounds = [0, *sorted(cuts), 100]
    return {version: bounds[i + 1] - bounds[i] for i, version in enumerate(versions)}


def owners(layout: Layout) -> dict[int, int]:
    return {bucket: version for version, ranges in layout.items() for bucket in expand(ranges)}


@settings(max_examples=150, deadline=None)
@given(st.lists(weight_maps(), min_size=1, max_size=8))
def test_every_sequence_of_weight_changes_keeps_the_invariants(steps: list[Weights]) -> None:
    layout: Layout = {}
    for weights in steps:
        new = reallocate(layout, weights)
        # Disjoint, covering 0…9999 exactly, sizes = weight x 100.
        check_layout(new, weights)
        assert sorted(owners(new)) == list(range(BUCKETS))
        for version, weight in weights.items():
            old, now = set(expand(layout.get(version, ()))), set(expand(new[version]))
            assert len(now) == weight * 100
            if len(now) >= len(old):
                assert old <= now  # growth never takes a key away from the growing version
            else:
                assert now <= old  # a shrinking version keeps a subset of its keys
        if layout:
            before, after = owners(layout), owners(new)
            moved = sum(before.get(bucket) != after[bucket] for bucket in range(BUCKETS))
            given_up = sum(
                max(0, len(expand(ranges)) - weights.get(version, 0) * 100)
                for version, ranges in layout.items()
            )
            assert moved == given_up  # no layout could move fewer keys
        layout = new


def test_an_unchanged_weight_keeps_exactly_its_buckets() -> None:
    first = reallocate({}, {1: 60, 2: 30, 3: 10})
    second = reallocate(first, {1: 50, 2: 30, 4: 20})
    assert second[2] == first[2]


def test_a_removed_version_hands_its_buckets_to_the_one_that_grows() -> None:
    first = reallocate({}, {1: 75, 2: 25})
    assert reallocate(first, {2: 100})[2] == ((0, BUCKETS),)
    assert first == {1: ((0, 7500),), 2: ((7500, 10000),)}


@pytest.mark.parametrize(
    ("weights", "message"),
    [({1: 90}, "sum to 100, got 90"), ({1: 101, 2: -1}, "whole percents 0..100")],
)
def test_bad_weights_are_refused(weights: Weights, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reallocate({}, weights)


def test_overlapping_current_ranges_are_refused_rather_than_repaired() -> None:
    with pytest.raises(ValueError, match="another version owns"):
        reallocate({1: ((0, 6000),), 2: ((5000, 10000),)}, {1: 50, 2: 50})


def test_compress_and_expand_are_inverse() -> None:
    assert compress([5, 1, 2, 3, 9]) == ((1, 4), (5, 6), (9, 10))
    assert expand(((1, 4), (9, 10))) == [1, 2, 3, 9]

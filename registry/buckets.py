"""Bucket ranges: which of the 10,000 routing buckets each version of an endpoint owns,
and how a weight change moves the fewest of them (DESIGN §3, sticky assignment). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

BUCKETS = 10_000
BUCKETS_PER_PERCENT = BUCKETS // 100

Range = tuple[int, int]  # half-open: buckets start … end - 1
Ranges = tuple[Range, ...]
Layout = Mapping[int, Ranges]  # version number -> the ranges it owns


def reallocate(current: Layout, weights: Mapping[int, int]) -> dict[int, Ranges]:
    """The layout for `weights` (version -> whole percent, summing to 100) nearest `current`.

    Each version keeps the lowest min(old, new) of its buckets, so one that grows keeps
    every bucket it had and one that shrinks keeps a subset; the buckets freed go to the
    growers, lowest first, in version order. Versions absent from `weights` give up all
    theirs. No layout moves fewer keys: only the buckets a shrinking version must give up
    change hands.
    """
    check_weights(weights)
    check_disjoint(current)
    kept = {
        version: expand(current.get(version, ()))[: weight * BUCKETS_PER_PERCENT]
        for version, weight in weights.items()
    }
    taken = {bucket for buckets in kept.values() for bucket in buckets}
    free = iter(bucket for bucket in range(BUCKETS) if bucket not in taken)
    for version in sorted(weights):
        missing = weights[version] * BUCKETS_PER_PERCENT - len(kept[version])
        kept[version] = sorted([*kept[version], *(next(free) for _ in range(missing))])
    layout = {version: compress(buckets) for version, buckets in kept.items()}
    check_layout(layout, weights)
    return layout


def check_weights(weights: Mapping[int, int]) -> None:
    if any(not 0 <= weight <= 100 for weight in weights.values()):
        raise ValueError(f"weights are whole percents 0..100, got {dict(weights)}")
    if sum(weights.values()) != 100:
        raise ValueError(f"weights must sum to 100, got {sum(weights.values())}")


def check_disjoint(layout: Layout) -> None:
    """Every range lies in 0..BUCKETS and no bucket has two owners."""
    seen: set[int] = set()
    for version, ranges in layout.items():
        for start, end in ranges:
            if not 0 <= start < end <= BUCKETS:
                raise ValueError(f"v{version} owns a range outside 0..{BUCKETS}: {start}..{end}")
        buckets = set(expand(ranges))
        if seen & buckets:
            raise ValueError(f"v{version} owns buckets another version owns too")
        seen |= buckets


def check_layout(layout: Layout, weights: Mapping[int, int] | None = None) -> None:
    """Ranges are disjoint, cover every bucket exactly once, and match `weights` if given."""
    check_disjoint(layout)
    covered = sum(end - start for ranges in layout.values() for start, end in ranges)
    if covered != BUCKETS:
        raise ValueError(f"the ranges cover {covered} buckets, not all {BUCKETS}")
    for version, weight in (weights or {}).items():
        size = sum(end - start for start, end in layout.get(version, ()))
        if size != weight * BUCKETS_PER_PERCENT:
            raise ValueError(f"v{version} owns {size} buckets for a weight of {weight}%")


def expand(ranges: Iterable[Range]) -> list[int]:
    """The buckets of `ranges`, ascending."""
    return sorted(bucket for start, end in ranges for bucket in range(start, end))


def compress(buckets: Iterable[int]) -> Ranges:
    """Ascending buckets as the fewest half-open ranges."""
    ranges: list[list[int]] = []
    for bucket in sorted(buckets):
        if ranges and ranges[-1][1] == bucket:
            ranges[-1][1] = bucket + 1
        else:
            ranges.append([bucket, bucket + 1])
    return tuple((start, end) for start, end in ranges)

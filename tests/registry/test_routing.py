"""Sticky weighted routing (DESIGN §3): bucket hashing, route tables, routing keys."""

from __future__ import annotations

import random
from collections import Counter
from hashlib import blake2b

import pytest

from registry.buckets import Layout, reallocate
from registry.routing import (
    MAX_ROUTING_KEY_CHARS,
    RouteRole,
    RouteTable,
    ServedVersion,
    ShadowVersion,
    bucket_of,
    choose_routing_key,
    shadow_bucket_of,
)

SALT = bytes(range(16))
KEYS = 20_000


def table(
    weights: dict[int, int],
    layout: Layout | None = None,
    *,
    shadows: dict[int, int] | None = None,
    salt: bytes = SALT,
) -> RouteTable:
    """A route table for `weights`, laid out from `layout` (or from scratch)."""
    placed = reallocate(layout or {}, weights)
    served = tuple(
        ServedVersion(
            version=version,
            role=RouteRole.STABLE if index == 0 else RouteRole.CANARY,
            weight=weight,
            buckets=placed[version],
            version_id=version,
            provider_model_id=f"m{version}",
        )
        for index, (version, weight) in enumerate(weights.items())
        if weight
    )
    mirrored = tuple(
        ShadowVersion(version=v, percent=p, version_id=v, provider_model_id=f"m{v}")
        for v, p in (shadows or {}).items()
    )
    return RouteTable(
        endpoint_id=1, team_id=1, name="e", model="m", environment="production",
        revision=1, serving=True, salt=salt, served=served, shadows=mirrored,
    )  # fmt: skip


def layout_of(route_table: RouteTable) -> dict[int, tuple[tuple[int, int], ...]]:
    return {served.version: served.buckets for served in route_table.served}


def random_keys(seed: int, count: int = KEYS) -> list[str]:
    rng = random.Random(seed)
    return [f"user-{rng.getrandbits(64):016x}" for _ in range(count)]


def test_buckets_are_keyed_blake2b_and_pinned_forever() -> None:
    # Changing the hash would move every key of every endpoint at once: these are pinned.
    digest = blake2b(b"alice", digest_size=8, key=SALT, person=b"modelops-assign").digest()
    assert bucket_of(SALT, "alice") == int.from_bytes(digest, "big") % 10_000
    assert [bucket_of(SALT, key) for key in ("alice", "bob", "")] == [6044, 3669, 840]
    assert [shadow_bucket_of(SALT, key) for key in ("alice", "bob")] == [7221, 4591]
    assert bucket_of(b"another salt....", "alice") != bucket_of(SALT, "alice")


def test_twenty_thousand_random_keys_split_ninety_ten_within_one_and_a_half_points() -> None:
    # The standard error of a 10% share over 20,000 keys is 0.21 points; 1.5 is over 7 of them.
    routes = table({1: 90, 2: 10}, salt=random.Random(7).randbytes(16))
    counts = Counter(routes.assign(key).version for key in random_keys(1))
    assert abs(counts[2] / KEYS * 100 - 10) <= 1.5
    assert abs(counts[1] / KEYS * 100 - 90) <= 1.5


def test_the_same_key_always_gets_the_same_version_and_role() -> None:
    routes = table({1: 50, 2: 30, 3: 20})
    rebuilt = table({1: 50, 2: 30, 3: 20})
    for key in random_keys(2, 2_000):
        first = routes.assign(key)
        assert routes.assign(key) == first == rebuilt.assign(key)
    assert routes.assign("alice") == (2, RouteRole.CANARY)  # bucket 6044 of 5000…7999


def test_growing_the_canary_from_ten_to_twenty_five_keeps_every_canary_key() -> None:
    at_10 = table({1: 90, 2: 10})
    at_25 = table({1: 75, 2: 25}, layout_of(at_10))
    keys = random_keys(3)
    on_canary = [key for key in keys if at_10.assign(key).version == 2]
    assert on_canary and all(at_25.assign(key).version == 2 for key in on_canary)
    # …and a key that was on stable at 75% was on stable at 90% too.
    assert all(at_10.assign(key).version == 1 for key in keys if at_25.assign(key).version == 1)
    moved = sum(at_10.assign(key) != at_25.assign(key) for key in keys)
    assert abs(moved / KEYS - 0.15) < 0.015  # only the 15 points that changed hands


def test_a_five_percent_canary_keeps_its_keys_on_the_way_to_a_hundred() -> None:
    keys = random_keys(4, 5_000)
    steps = [{1: 95, 2: 5}, {1: 75, 2: 25}, {1: 50, 2: 50}, {2: 100}]
    tables = [table(steps[0])]
    for weights in steps[1:]:
        tables.append(table(weights, layout_of(tables[-1])))
    first_canaries = {key for key in keys if tables[0].assign(key).version == 2}
    for later in tables[1:]:
        assert all(later.assign(key).version == 2 for key in first_canaries)


def test_shadows_mirror_a_sticky_percent_independent_of_the_serving_version() -> None:
    keys = random_keys(5)
    routes = table({1: 50, 2: 50}, shadows={3: 10})
    mirrored = [key for key in keys if routes.shadow_targets(key)]
    assert abs(len(mirrored) / KEYS - 0.10) < 0.015
    # A different hash from assignment: the mirrored keys come from both served versions.
    by_version = Counter(routes.assign(key).version for key in mirrored)
    assert abs(by_version[1] / len(mirrored) - 0.5) < 0.05
    assert all(routes.shadow_targets(key)[0].version == 3 for key in mirrored)
    wider = table({1: 50, 2: 50}, shadows={3: 30})
    assert all(wider.shadow_targets(key) for key in mirrored)
    assert table({1: 100}).shadow_targets("alice") == ()


def test_a_route_table_refuses_a_layout_with_a_gap_or_overlap() -> None:
    def served(version: int, weight: int, ranges: tuple[tuple[int, int], ...]) -> ServedVersion:
        return ServedVersion(version, RouteRole.STABLE, weight, ranges, version, "m")

    def build(*routes: ServedVersion) -> RouteTable:
        return RouteTable(1, 1, "e", "m", "staging", 1, True, SALT, routes)

    with pytest.raises(ValueError, match="cover 9999 buckets"):
        build(served(1, 100, ((0, 9999),)))
    with pytest.raises(ValueError, match="another version owns"):
        build(served(1, 50, ((0, 5000),)), served(2, 50, ((4999, 9999),)))
    with pytest.raises(ValueError, match="owns 5000 buckets for a weight of 40%"):
        build(served(1, 40, ((0, 5000),)), served(2, 60, ((5000, 10000),)))


@pytest.mark.parametrize(
    ("header", "user", "expected"),
    [
        ("conversation-7", "bob", ("conversation-7", "header")),
        (None, "bob", ("bob", "user")),
        ("", "bob", ("bob", "user")),
    ],
)
def test_routing_key_is_the_header_else_the_user(
    header: str | None, user: str | None, expected: tuple[str, str]
) -> None:
    assert tuple(choose_routing_key(header, user)) == expected


def test_without_header_or_user_each_request_gets_its_own_random_key() -> None:
    keys = {choose_routing_key(None, None) for _ in range(100)}
    assert len(keys) == 100 and {key.source for key in keys} == {"random"}


def test_an_over_long_routing_key_header_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"x-modelops-routing-key has 257 characters; at most 256"):
        choose_routing_key("k" * (MAX_ROUTING_KEY_CHARS + 1), None)

"""Master-key rotation: every key stays readable, interrupted runs resume, races are safe."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from registry.keys import KeyEventKind, rotate_master, verify_keys
from registry.keys.rotation import BatchResult
from registry.keys.tables import ProviderKeyRow
from tests.registry.test_keys_support import (
    MASTER_2,
    MASTER_3,
    RING_1,
    RING_2,
    SECRETS,
    PoolFactory,
    ring,
)

KEYS = 7


@pytest.fixture
def pools(db_url: str) -> Iterator[PoolFactory]:
    """Seven keys across two teams and providers, all wrapped with master v1."""
    factory = PoolFactory(db_url, keyring=RING_1)
    for index in range(KEYS):
        team, provider = ("alpha", "openai") if index % 2 else ("beta", "anthropic")
        with factory.pool(team) as pool:
            pool.add(provider, f"key-{index}", SECRETS[index], 0)
    yield factory
    factory.close()


def _wraps(pools: PoolFactory) -> dict[int, tuple[str, bytes]]:
    with pools.sessions() as session:
        rows = session.execute(select(ProviderKeyRow.id, ProviderKeyRow.kek_version,
                                      ProviderKeyRow.ciphertext)).all()  # fmt: skip
    return {row.id: (row.kek_version, row.ciphertext) for row in rows}


def _secrets(pools: PoolFactory, raw_ring: str) -> set[str]:
    """Open every key with `raw_ring` through the pool, as a provider call would."""
    pools.keyring = ring(raw_ring)
    opened = set()
    for team in ("alpha", "beta"):
        with pools.pool(team) as pool:
            opened |= {
                pool.get_key_by_id(key.id).credential.get_secret_value() for key in pool.list()
            }
    return opened


def test_rotation_rewraps_every_key_and_each_still_opens(pools: PoolFactory) -> None:
    before = _wraps(pools)
    report = rotate_master(pools.sessions, ring(RING_2), batch_size=3)
    after = _wraps(pools)
    assert (report.rewrapped, report.remaining, report.already_current) == (KEYS, 0, 0)
    assert (report.batches, report.target_version) == (3, "v2")
    assert {version for version, _ in after.values()} == {"v2"}
    # Only the data keys were re-wrapped: the secrets' ciphertexts are byte for byte the same.
    assert {i: c for i, (_, c) in before.items()} == {i: c for i, (_, c) in after.items()}
    assert _secrets(pools, f"v2:{MASTER_2}") == set(SECRETS[:KEYS])


def test_an_interrupted_rotation_leaves_every_key_readable_and_resumes(pools: PoolFactory) -> None:
    class Crash(Exception):
        pass

    def crash_after_first_batch(batch: BatchResult) -> None:
        raise Crash

    with pytest.raises(Crash):
        rotate_master(pools.sessions, ring(RING_2), batch_size=3, on_batch=crash_after_first_batch)
    versions = sorted(version for version, _ in _wraps(pools).values())
    assert versions == ["v1"] * (KEYS - 3) + ["v2"] * 3
    assert _secrets(pools, RING_2) == set(SECRETS[:KEYS])

    resumed = rotate_master(pools.sessions, ring(RING_2), batch_size=3)
    assert (resumed.rewrapped, resumed.already_current, resumed.remaining) == (KEYS - 3, 3, 0)
    assert _secrets(pools, f"v2:{MASTER_2}") == set(SECRETS[:KEYS])


def test_rotating_again_is_a_no_op(pools: PoolFactory) -> None:
    rotate_master(pools.sessions, ring(RING_2))
    again = rotate_master(pools.sessions, ring(RING_2))
    assert (again.rewrapped, again.already_current, again.batches) == (0, KEYS, 0)


def test_rotation_records_a_rewrapped_event_per_key(pools: PoolFactory) -> None:
    rotate_master(pools.sessions, ring(RING_2))
    with pools.pool("alpha") as pool:
        events = [e for e in pool.events() if e.kind is KeyEventKind.REWRAPPED]
    assert len(events) == KEYS // 2
    assert all(e.detail["from"] == "v1" and e.detail["to"] == "v2" for e in events)


def test_keys_under_a_master_missing_from_the_ring_are_reported_not_lost(
    pools: PoolFactory,
) -> None:
    report = rotate_master(pools.sessions, ring(f"v3:{MASTER_3}"))
    assert (report.rewrapped, report.remaining, len(report.unreadable)) == (0, KEYS, KEYS)
    assert "add it back" in report.unreadable[0].problem
    assert {version for version, _ in _wraps(pools).values()} == {"v1"}
    # With the old master back in the ring, the same run succeeds.
    fixed = rotate_master(pools.sessions, ring(f"v3:{MASTER_3},{RING_1}"))
    assert (fixed.rewrapped, fixed.remaining, fixed.unreadable) == (KEYS, 0, [])


def test_concurrent_rotations_rewrap_each_key_exactly_once(pools: PoolFactory) -> None:
    barrier = threading.Barrier(3)
    reports = []

    def run() -> None:
        barrier.wait()
        reports.append(rotate_master(pools.sessions, ring(RING_2), batch_size=2))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(report.rewrapped for report in reports) == KEYS
    assert all(report.remaining == 0 for report in reports)
    assert _secrets(pools, f"v2:{MASTER_2}") == set(SECRETS[:KEYS])


def test_verify_names_rows_whose_ciphertext_was_tampered_with(pools: PoolFactory) -> None:
    with pools.sessions.begin() as session:
        first, second = session.execute(
            select(ProviderKeyRow.id, ProviderKeyRow.ciphertext).order_by(ProviderKeyRow.id)
        ).all()[:2]
        session.execute(
            update(ProviderKeyRow)
            .where(ProviderKeyRow.id == first.id)
            .values(ciphertext=second.ciphertext)
        )
    with pools.sessions() as session:
        checked, unreadable = verify_keys(session, ring(RING_1))
    assert checked == KEYS
    assert [key.key_id for key in unreadable] == [first.id]
    assert "does not authenticate" in unreadable[0].problem

"""Many processes, one pool: no cooling or disabled key is ever handed out, and concurrent
reports leave the latest deadline. Checked against the database's own event log."""

from __future__ import annotations

import multiprocessing
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from registry.keys import KeyEventKind, KeyOutcome
from registry.keys.tables import KeyEventRow, ProviderKeyRow
from tests.registry.test_keys_support import (
    T0,
    Acquisition,
    PoolFactory,
    hammer_pool,
    toggle_keys,
)

WORKERS = 4
CYCLES = 80


@pytest.fixture
def pools(db_url: str) -> Iterator[PoolFactory]:
    factory = PoolFactory(db_url)
    yield factory
    factory.close()


def test_processes_are_never_handed_a_cooling_or_disabled_key(pg_url: str) -> None:
    factory = PoolFactory(pg_url)
    factory.add_keys([("p9-a", 9), ("p9-b", 9), ("p5-a", 5), ("p5-b", 5), ("p1", 1)])
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start, stop = manager.Barrier(WORKERS + 1), manager.Event()
        with context.Pool(WORKERS + 1) as processes:
            controller = processes.apply_async(toggle_keys, (pg_url, 99, start, stop))
            results = processes.starmap(
                hammer_pool, [(pg_url, seed, CYCLES, start) for seed in range(WORKERS)]
            )
            stop.set()
            toggles = controller.get()
    acquisitions = [a for found, _ in results for a in found]
    assert [v for _, seen in results for v in seen] == []
    _assert_consistent_with_event_log(factory, acquisitions)
    assert toggles >= 20 and len(acquisitions) > WORKERS * CYCLES // 4
    factory.close()


def _assert_consistent_with_event_log(
    factory: PoolFactory, acquisitions: list[Acquisition]
) -> None:
    """Replay each key's events in lock order; at every acquisition the key was usable.

    Acquisitions and events on a key both hold its row lock, and each event records the
    key's request_count, so the events before acquisition number j are exactly those with
    request_count < j: a total order that needs no clocks.
    """
    with factory.sessions() as session:
        events = session.scalars(select(KeyEventRow).order_by(KeyEventRow.id)).all()
        final = dict(session.execute(select(ProviderKeyRow.id, ProviderKeyRow.request_count)).all())
    by_key: dict[int, list[KeyEventRow]] = defaultdict(list)
    for event in events:
        by_key[event.key_id].append(event)
    seqs: dict[int, list[int]] = defaultdict(list)
    for key_id, seq, at in acquisitions:
        seqs[key_id].append(seq)
        disabled, until = _state_before(by_key[key_id], seq)
        assert not disabled, f"key {key_id} handed out (use {seq}) while disabled"
        assert until is None or until <= datetime.fromisoformat(at), (
            f"key {key_id} handed out (use {seq}) at {at} while cooling until {until}"
        )
    for key_id, used in seqs.items():  # no lost or doubled updates either
        assert sorted(used) == list(range(1, final[key_id] + 1))
    kinds = {event.kind for event in events}
    assert {KeyEventKind.COOLED, KeyEventKind.DISABLED, KeyEventKind.ENABLED} <= kinds


def _state_before(events: list[KeyEventRow], seq: int) -> tuple[bool, datetime | None]:
    disabled, until = False, None
    for event in events:
        if event.detail["request_count"] >= seq:
            continue
        if event.kind == KeyEventKind.DISABLED:
            disabled = True
        elif event.kind == KeyEventKind.ENABLED:
            disabled = False
        elif event.kind == KeyEventKind.COOLED:
            until = datetime.fromisoformat(event.detail["until"])
    return disabled, until


def _race(count: int, action: object) -> None:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            action(index)  # type: ignore[operator]
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


RETRY_AFTERS = [5.0, 120.0, 30.0, 90.0, 1.0, 60.0, 15.0, 45.0]


def test_concurrent_rate_limit_reports_leave_the_latest_deadline(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("hot", 0)])

    def report(index: int) -> None:
        with pools.pool() as pool:
            pool.record_failure(
                key, KeyOutcome.RATE_LIMITED, retry_after=RETRY_AFTERS[index], reason="429"
            )

    _race(len(RETRY_AFTERS), report)
    with pools.pool() as pool:
        view = pool.get(key)
        cooled = [e for e in pool.events(key) if e.kind is KeyEventKind.COOLED]
    assert view.cooldown_until == T0 + timedelta(seconds=max(RETRY_AFTERS))
    assert view.consecutive_failures == len(RETRY_AFTERS)
    deadlines = [datetime.fromisoformat(str(e.detail["until"])) for e in cooled]
    assert deadlines == sorted(deadlines), "a later report moved the deadline earlier"


def test_concurrent_model_failures_leave_the_latest_model_deadline(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("k", 0)])

    def report(index: int) -> None:
        with pools.pool() as pool:
            pool.record_failure(
                key,
                KeyOutcome.MODEL_SCOPED,
                retry_after=RETRY_AFTERS[index],
                model="m",
                reason="529",
            )

    _race(len(RETRY_AFTERS), report)  # every report races to create the same cooldown row
    with pools.pool() as pool:
        cooldown = pool.model_cooldown("openai", "m")
    assert cooldown is not None
    assert cooldown.cooldown_until == T0 + timedelta(seconds=max(RETRY_AFTERS))
    assert cooldown.consecutive_failures == len(RETRY_AFTERS)


def test_a_key_locked_by_another_caller_is_waited_for_not_reported_missing(pg_url: str) -> None:
    pools = PoolFactory(pg_url)
    (key,) = pools.add_keys([("only", 0)])
    holding, release = threading.Event(), threading.Event()
    got: list[int] = []

    def first() -> None:
        with pools.pool() as pool:
            pool.acquire("openai")
            holding.set()
            release.wait()

    def second() -> None:
        with pools.pool() as pool:
            got.append(pool.acquire("openai").key_id)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    holding.wait()
    threads[1].start()
    _wait_until_a_session_waits_on_a_lock(pools)
    release.set()
    for thread in threads:
        thread.join()
    assert got == [key]
    pools.close()


def _wait_until_a_session_waits_on_a_lock(pools: PoolFactory) -> None:
    # PostgreSQL offers no notification for "a backend started waiting"; poll its own view.
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(2000):
        with pools.engine.connect() as conn:
            if conn.scalar(query):
                return
        threading.Event().wait(0.005)
    raise AssertionError("the second caller never blocked on the first one's lock")

"""A successful call through a KeyPoolView runs no SQL statement; its usage lands in the
database in one batch (periodically, on close, after a failed write), and a success ends a
failure streak in the database only if no failure was recorded after it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from adapters.chat import ChatMessage, ChatRequest, Role
from adapters.registry import chat_adapter
from dispatch.key_pool_sync import ViewTiming
from dispatch.keyed_call import CallPolicy
from dispatch.providers import ProviderHandle, open_provider
from registry.errors import DatabaseUnavailableError
from registry.keys import KeyOutcome, KeyPool, KeyStatus, ModelCooldown, ProviderKey
from registry.keys.tables import ProviderKeyRow
from tests.dispatch.conftest import seed_openai
from tests.dispatch.view_support import (
    Replica,
    eventually,
    no_new_connections,
    replica,
    stored,
)
from tests.fakes.openai_server import FakeOpenAIServer
from tests.registry.test_keys_support import RING_1, T0, PoolFactory, ring

pytestmark = pytest.mark.anyio
MODEL = "gpt-test"
CALLS = 50


@pytest.fixture
def factory(pg_url: str) -> Iterator[PoolFactory]:
    made = PoolFactory(pg_url)
    yield made
    made.close()


async def _chat_many(handle: ProviderHandle, calls: int) -> None:
    chat = chat_adapter(handle.adapter)
    request = ChatRequest(model=MODEL, messages=[ChatMessage(role=Role.USER, content="hi")])
    for _ in range(calls):
        result = await handle.call(lambda c: chat.chat(c, request), model=MODEL)
        assert result.attempts[-1].outcome == "success"


async def test_successful_calls_through_a_view_run_no_statement_until_the_flush(
    pg_url: str, openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    async with replica(pg_url) as rep:
        seed_openai(rep.sessions, openai_server.base_url, {})
        with rep.sessions.begin() as session:
            a, b = (
                KeyPool(session, rep.team, ring(RING_1)).add("openai", label, secret).id
                for label, secret in (("a", "sk-view-aaaaaaaaaaaa1111"), ("b", "sk-view-b2222"))
            )
        await rep.listening()
        async with open_provider(
            rep.sessions, rep.team, "openai", keyring=None, data_dir=tmp_path,
            pool_view=rep.view,
        ) as handle:  # fmt: skip
            await _chat_many(handle, 1)  # the first use reads the pool: a cache miss
            rep.statements.clear()
            await _chat_many(handle, CALLS)
            assert rep.statements == []
            await rep.view.flush()
            assert len(rep.statements) == 1  # one executemany for both keys (no model cooled)
            assert rep.statements[0].lstrip().upper().startswith("UPDATE PROVIDER_KEYS")
        for key_id in (a, b):
            key = stored_key(rep, key_id)
            assert key.request_count == key.success_count == (CALLS + 1) // 2 + (key_id == a)
            assert key.last_used_at is not None and key.last_success_at is not None
        assert openai_server.keys_used().count("sk-view-b2222") == (CALLS + 1) // 2


def stored_key(rep: Replica, key_id: int) -> ProviderKey:
    with rep.sessions.begin() as session:
        return KeyPool(session, rep.team).get(key_id)


async def test_the_database_path_still_runs_statements_on_every_success(
    pg_url: str, openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    """The counter can see statements: without a view every call runs several."""
    async with replica(pg_url) as rep:
        sessions = rep.sessions
        seed_openai(sessions, openai_server.base_url, {})
        with sessions.begin() as session:
            KeyPool(session, rep.team, ring(RING_1)).add("openai", "a", "sk-db-path-0001")
        async with open_provider(
            sessions, rep.team, "openai", keyring=ring(RING_1), data_dir=tmp_path,
            policy=CallPolicy(),
        ) as handle:  # fmt: skip
            rep.statements.clear()
            await _chat_many(handle, 3)
        assert len(rep.statements) >= 2 * 3


async def test_usage_lands_with_the_periodic_flush(pg_url: str, factory: PoolFactory) -> None:
    [key] = factory.add_keys([("only", 0)])
    timing = ViewTiming(flush_seconds=0.05, refresh_seconds=3600, unheard_seconds=3600)
    async with replica(pg_url, timing) as rep:
        for second in range(5):
            await rep.acquire(second)
            rep.succeed(key, seconds=second)
        await eventually(
            lambda: stored(factory, key).success_count == 5, within=30, what="the flush"
        )
        written = stored(factory, key)
        assert (written.request_count, written.last_used_at) == (5, T0 + timedelta(seconds=4))


async def test_usage_lands_on_close(pg_url: str, factory: PoolFactory) -> None:
    [key] = factory.add_keys([("only", 0)])
    async with replica(pg_url) as rep:
        for second in range(3):
            await rep.acquire(second)
            rep.succeed(key, seconds=second)
        assert stored(factory, key).request_count == 0
    written = stored(factory, key)
    assert (written.request_count, written.success_count) == (3, 3)
    assert written.last_success_at == T0 + timedelta(seconds=2)


async def test_usage_whose_write_failed_is_written_by_the_next_flush(
    pg_url: str, factory: PoolFactory
) -> None:
    [key] = factory.add_keys([("only", 0)])
    async with replica(pg_url) as rep:
        await rep.acquire()
        rep.succeed(key)
        with no_new_connections(rep.engine):
            with factory.engine.begin() as conn:  # and drop the view's pooled connections
                conn.execute(text(KILL_OTHERS))
            with pytest.raises(DatabaseUnavailableError, match="recording key usage"):
                await rep.view.flush()
        assert rep.view.unwritten_requests() == 1
        await rep.acquire(1)
        rep.succeed(key, seconds=1)
        await rep.view.flush()
    written = stored(factory, key)
    assert (written.request_count, written.success_count) == (2, 2)


KILL_OTHERS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def _rate_limit(factory: PoolFactory, key: int, seconds: float) -> None:
    factory.clock.now = T0 + timedelta(seconds=seconds)
    with factory.pool() as pool:
        pool.record_failure(key, KeyOutcome.RATE_LIMITED, reason="429")


async def test_a_success_before_a_failure_ends_the_streak_before_it_grows(
    pg_url: str, factory: PoolFactory
) -> None:
    [key] = factory.add_keys([("only", 0)])
    _rate_limit(factory, key, 0)
    _rate_limit(factory, key, 1)  # two in a row: the next cooldown would be 4 s
    assert stored(factory, key).consecutive_failures == 2
    async with replica(pg_url) as rep:
        await rep.acquire(10)
        rep.succeed(key, seconds=10)  # counted, not written yet
        await rep.acquire(11)
        recorded = await rep.fail(key, KeyOutcome.RATE_LIMITED, seconds=11)
    # The streak restarted at the success: a first rate limit cools for the base 1 s.
    assert recorded.key_cooldown_until == T0 + timedelta(seconds=12)
    assert stored(factory, key).consecutive_failures == 1


async def test_a_batch_written_late_keeps_a_streak_that_a_later_failure_started(
    pg_url: str, factory: PoolFactory
) -> None:
    [key] = factory.add_keys([("only", 0)])
    async with replica(pg_url) as rep:
        await rep.acquire(10)
        rep.succeed(key, seconds=10)
        _rate_limit(factory, key, 11)  # another replica, after the success, before the flush
        _rate_limit(factory, key, 13)
        await rep.view.flush()
        assert stored(factory, key).consecutive_failures == 2  # not reset by the older success
        await rep.acquire(20)
        rep.succeed(key, seconds=20)  # after those failures: it ends the streak
        await rep.view.flush()
    written = stored(factory, key)
    assert (written.consecutive_failures, written.error_count, written.success_count) == (0, 0, 2)


async def test_a_batched_model_success_ends_the_models_streak_unless_a_failure_followed(
    pg_url: str, factory: PoolFactory
) -> None:
    [key] = factory.add_keys([("only", 0)])
    async with replica(pg_url) as rep:
        await rep.acquire(0, model=MODEL)
        await rep.fail(key, KeyOutcome.MODEL_SCOPED, seconds=0, model=MODEL)
        await rep.acquire(5, model=MODEL)
        await rep.fail(key, KeyOutcome.MODEL_SCOPED, seconds=5, model=MODEL)
        assert _model(factory).consecutive_failures == 2
        await rep.acquire(20, model=MODEL)
        rep.succeed(key, seconds=20, model=MODEL)
        await rep.view.flush()
        assert _model(factory).consecutive_failures == 0
        await rep.acquire(30, model=MODEL)
        rep.succeed(key, seconds=30, model=MODEL)
        factory.clock.now = T0 + timedelta(seconds=31)
        with factory.pool() as pool:  # another replica's 5xx after this success
            pool.record_failure(key, KeyOutcome.MODEL_SCOPED, reason="500", model=MODEL)
        await rep.view.flush()
    assert _model(factory).consecutive_failures == 1


def _model(factory: PoolFactory) -> ModelCooldown:
    with factory.pool() as pool:
        found = pool.model_cooldown("openai", MODEL)
    assert found is not None
    return found


@contextmanager
def _key_locked(factory: PoolFactory, key: int) -> Iterator[None]:
    """Another transaction holds the key's row lock: writes to it wait until the block ends."""
    with factory.engine.connect() as conn, conn.begin():
        K = ProviderKeyRow
        conn.execute(select(K.id).where(K.id == key).with_for_update())
        yield


async def _blocked_on_the_lock(factory: PoolFactory) -> None:
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )

    def waiting() -> bool:
        with factory.engine.connect() as conn:
            return bool(conn.execute(query).scalar_one())

    await eventually(waiting, within=30, what="the write to wait on the row lock")


async def test_a_flush_cancelled_mid_write_neither_loses_nor_repeats_the_batch(
    pg_url: str, factory: PoolFactory
) -> None:
    [key] = factory.add_keys([("only", 0)])
    async with replica(pg_url) as rep:
        await rep.acquire()
        rep.succeed(key)
        with _key_locked(factory, key):
            flush = asyncio.create_task(rep.view.flush())
            await _blocked_on_the_lock(factory)
            flush.cancel()
            with pytest.raises(asyncio.CancelledError):
                await flush
        # close waits for the write the cancelled flush left running, then flushes the rest
    written = stored(factory, key)
    assert (written.request_count, written.success_count) == (1, 1)


async def test_a_failure_write_cancelled_mid_way_is_still_taken_in_by_the_view(
    pg_url: str, factory: PoolFactory
) -> None:
    best, spare = factory.add_keys([("best", 9), ("spare", 1)])
    async with replica(pg_url) as rep:
        await rep.acquire()
        rep.succeed(best)
        with _key_locked(factory, best):
            failing = asyncio.create_task(rep.fail(best, KeyOutcome.KEY_SCOPED))
            await _blocked_on_the_lock(factory)
            failing.cancel()  # the request went away; its transaction goes on
            with pytest.raises(asyncio.CancelledError):
                await failing
        await eventually(
            lambda: _held_status(rep, best) is KeyStatus.DISABLED,
            within=30,
            what="the view taking in the committed disable",
        )
        assert (await rep.acquire(1)).key_id == spare
        assert rep.view.unwritten_requests() == 1  # the spare's; best's went with the failure
    written = stored(factory, best)
    assert (written.status, written.request_count, written.success_count) == (
        KeyStatus.DISABLED, 1, 1,
    )  # fmt: skip


def _held_status(rep: Replica, key_id: int) -> KeyStatus:
    [key] = [k for k in rep.view.held(T0)[(rep.team.id, "openai")] if k.key_id == key_id]
    return key.status

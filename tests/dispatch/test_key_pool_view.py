"""Replicas on one PostgreSQL database, each with its own engine and KeyPoolView: a key cooled
or disabled through one (or by the CLI, in another process) is skipped by the others within a
second; deadlines only move later, however replicas race; a lost LISTEN is caught up."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from dispatch.key_pool_sync import APPLICATION_NAME, ViewTiming
from registry.keys import KeyOutcome, KeyStatus, NoKeyAvailableError, ProviderKey
from tests.dispatch.view_support import (
    Replica,
    eventually,
    no_new_connections,
    replica,
    stored,
)
from tests.registry.test_keys_support import MASTER_1, SECRETS, T0, PoolFactory

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
MODEL = "gpt-test"


@pytest.fixture
def factory(pg_url: str) -> Iterator[PoolFactory]:
    made = PoolFactory(pg_url)
    yield made
    made.close()


async def _picks(rep: Replica, key_id: int, seconds: float = 1) -> bool:
    try:
        return (await rep.acquire(seconds)).key_id == key_id
    except NoKeyAvailableError:
        return False


async def test_a_key_disabled_through_one_replica_is_skipped_by_the_other_within_a_second(
    pg_url: str, factory: PoolFactory
) -> None:
    best, spare = factory.add_keys([("best", 9), ("spare", 1)])
    async with replica(pg_url) as a, replica(pg_url) as b:
        await a.listening()
        await b.listening()
        assert (await b.acquire()).key_id == best
        assert (await a.acquire()).key_id == best
        recorded = await a.fail(best, KeyOutcome.KEY_SCOPED)
        assert recorded.key_status is KeyStatus.DISABLED
        assert (await a.acquire()).key_id == spare  # the writer knows at once
        await eventually(lambda: _picks(b, spare), what="replica b skipping the disabled key")
    assert stored(factory, best).status is KeyStatus.DISABLED


async def test_a_key_cooled_through_one_replica_is_skipped_by_the_other_within_a_second(
    pg_url: str, factory: PoolFactory
) -> None:
    best, spare = factory.add_keys([("best", 9), ("spare", 1)])
    async with replica(pg_url) as a, replica(pg_url) as b:
        await a.listening()
        await b.listening()
        await b.acquire()
        await a.fail(best, KeyOutcome.RATE_LIMITED, retry_after=30)
        await eventually(lambda: _picks(b, spare), what="replica b skipping the cooling key")
        # It comes back on b by its deadline alone, with no word from anyone.
        assert (await b.acquire(seconds=30)).key_id == best


async def test_a_model_cooled_through_one_replica_stops_the_other_within_a_second(
    pg_url: str, factory: PoolFactory
) -> None:
    [key] = factory.add_keys([("only", 0)])
    async with replica(pg_url) as a, replica(pg_url) as b:
        await a.listening()
        await b.listening()
        await b.acquire(model=MODEL)
        await a.fail(key, KeyOutcome.MODEL_SCOPED, retry_after=20, model=MODEL)

        async def model_refused() -> bool:
            try:
                await b.acquire(seconds=1, model=MODEL)
            except NoKeyAvailableError as exc:
                return exc.model_cooling_until == T0 + timedelta(seconds=20)
            return False

        await eventually(model_refused, what="replica b refusing the cooling model")
        assert (await b.acquire(seconds=1, model="another-model")).key_id == key


async def test_the_cli_in_another_process_disables_adds_and_enables_keys_seen_within_a_second(
    pg_url: str, factory: PoolFactory, tmp_path: Path
) -> None:
    best, spare = factory.add_keys([("best", 9), ("spare", 1)])
    async with replica(pg_url) as rep:
        await rep.listening()
        assert (await rep.acquire()).key_id == best
        _modelops(pg_url, tmp_path, "keys", "disable", str(best))
        await eventually(
            lambda: _picks(rep, spare), what="the view skipping a key the CLI disabled"
        )
        _modelops(pg_url, tmp_path, "keys", "add", "openai", "--label", "new", "--priority", "20")
        [added] = [k for k in _keys(factory) if k.label == "new"]
        await eventually(lambda: _picks(rep, added.id), what="the view using a key the CLI added")
        _modelops(pg_url, tmp_path, "keys", "disable", str(added.id))
        _modelops(pg_url, tmp_path, "keys", "enable", str(best))
        await eventually(lambda: _picks(rep, best), what="the view using a key the CLI enabled")


def _keys(factory: PoolFactory) -> list[ProviderKey]:
    with factory.pool() as pool:
        return pool.list("openai")


def _modelops(pg_url: str, data_dir: Path, *args: str) -> None:
    """The real CLI in its own process; returns once it exited (its change is committed)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MODELOPS_DATABASE_URL": pg_url,
        "MODELOPS_TEAM": "alpha",
        "MODELOPS_MASTER_KEY": f"v1:{MASTER_1}",
        "MODELOPS_DATA_DIR": str(data_dir),
    }
    done = subprocess.run(
        [sys.executable, "-m", "modelops.cli", *args],
        input=SECRETS[-1],
        capture_output=True,
        text=True,
        env=env,
        cwd=data_dir,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


async def test_racing_replicas_leave_the_later_deadline_everywhere(
    pg_url: str, factory: PoolFactory
) -> None:
    [key] = factory.add_keys([("only", 0)])
    async with replica(pg_url) as a, replica(pg_url) as b:
        await a.listening()
        await b.listening()
        await a.acquire()
        await b.acquire()
        long, short = await asyncio.gather(
            a.fail(key, KeyOutcome.RATE_LIMITED, retry_after=30),
            b.fail(key, KeyOutcome.RATE_LIMITED, retry_after=5),
        )
        latest = T0 + timedelta(seconds=30)
        assert stored(factory, key).cooldown_until == latest
        # Whichever wrote second, the longer one was told its own deadline by the database.
        assert long.key_cooldown_until == latest
        assert short.key_cooldown_until in (T0 + timedelta(seconds=5), latest)
        for rep in (a, b):
            await eventually(
                lambda rep=rep: _free_at(rep) == latest, what="both replicas holding the later"
            )
        # A shorter cooldown reported afterwards never shortens it, on either side.
        later = await b.fail(key, KeyOutcome.RATE_LIMITED, seconds=1, retry_after=2)
        assert later.key_cooldown_until == latest
        assert _free_at(b) == latest


def _free_at(rep: Replica) -> datetime | None:
    [key] = rep.view.held(T0)[(rep.team.id, "openai")]
    return key.cooldown_until


async def test_while_listen_is_down_the_view_rereads_and_then_listens_again(
    pg_url: str, factory: PoolFactory
) -> None:
    best, spare = factory.add_keys([("best", 9), ("spare", 1)])
    timing = ViewTiming(flush_seconds=3600, refresh_seconds=3600, unheard_seconds=0.2)
    async with replica(pg_url, timing) as rep:
        await rep.listening()
        await rep.acquire()
        with no_new_connections(factory.engine):  # pooled connections go on working
            with factory.engine.begin() as conn:
                conn.execute(text(TERMINATE_LISTENER))
            await eventually(lambda: not rep.view.listening.is_set(), within=30, what="LISTEN lost")
            with factory.pool() as pool:
                pool.disable(best, "while nobody listened")
            await eventually(lambda: _picks(rep, spare), what="the view re-reading unheard")
            assert not rep.view.listening.is_set()
        await eventually(rep.view.listening.is_set, within=30, what="LISTEN back")
        with factory.pool() as pool:
            pool.enable(best)
        await eventually(lambda: _picks(rep, best), what="the view hearing the enable")


TERMINATE_LISTENER = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    f"WHERE application_name = '{APPLICATION_NAME}' AND datname = current_database()"
)


async def test_an_unknown_provider_fails_as_on_the_database_path_and_is_not_cached(
    pg_url: str, factory: PoolFactory
) -> None:
    async with replica(pg_url) as rep:
        with pytest.raises(Exception, match="'nope' is not a known provider") as caught:
            await rep.view.acquire(rep.team, "nope", now=T0)
        assert type(caught.value).__name__ == "NotFoundError"
        with pytest.raises(NoKeyAvailableError, match="there are none; add one"):
            await rep.acquire()
        factory.add_keys([("late", 0)])
        await rep.view.refresh()
        assert (await rep.acquire()).label == "late"


async def test_on_sqlite_the_view_rereads_so_another_process_is_seen_within_a_second(
    sqlite_url: str,
) -> None:
    factory = PoolFactory(sqlite_url)
    best, spare = factory.add_keys([("best", 9), ("spare", 1)])
    timing = ViewTiming(flush_seconds=3600, refresh_seconds=3600, unheard_seconds=0.2)
    try:
        async with replica(sqlite_url, timing) as rep:
            assert (await rep.acquire()).key_id == best
            assert not rep.view.listening.is_set()
            with factory.pool() as pool:  # another engine: another process, to the view
                pool.disable(best)
            await eventually(lambda: _picks(rep, spare), what="the SQLite view re-reading")
    finally:
        factory.close()


async def test_a_reason_quoting_the_key_is_scrubbed_before_the_view_holds_it(
    pg_url: str, factory: PoolFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    [key] = factory.add_keys([("only", 0)])
    secret = SECRETS[0]
    async with replica(pg_url) as rep:
        lease = await rep.acquire(model=MODEL)
        assert lease.credential.get_secret_value() == secret
        await rep.fail(key, KeyOutcome.MODEL_SCOPED, model=MODEL, reason=f"500 for {secret}")
        with pytest.raises(NoKeyAvailableError) as caught:  # cooling for 1 s
            await rep.acquire(0.5, model=MODEL)
        shown = [str(caught.value), repr(caught.value), repr(lease), str(rep.view.held(T0))]
    assert "500 for" in shown[0]
    for text_ in [*shown, caplog.text]:
        assert secret not in text_

"""`KeyPoolView.key_states`: the keys of each pool the view holds, by state, from memory: a
key is leased while a call holds it and available once every call that took it is over;
cooling and disabled as recorded; a lease never returned stops counting after a while."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import dispatch.key_pool_view as key_pool_view
from registry.keys import KeyOutcome
from tests.dispatch.view_support import replica
from tests.registry.test_keys_support import T0, PoolFactory

pytestmark = pytest.mark.anyio


@pytest.fixture
def factory(pg_url: str) -> Iterator[PoolFactory]:
    made = PoolFactory(pg_url)
    yield made
    made.close()


def _states(**counts: int) -> dict[str, int]:
    return {state: counts.get(state, 0) for state in key_pool_view.KEY_STATES}


async def test_states_follow_calls_failures_and_forget_unreturned_leases(
    pg_url: str, factory: PoolFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    best, spare, third = factory.add_keys([("best", 9), ("spare", 5), ("third", 1)])
    async with replica(pg_url) as rep:
        assert rep.view.key_states(T0) == {}
        first = await rep.acquire()
        second = await rep.acquire()  # the same best key, held twice
        assert first.key_id == second.key_id == best
        pool = ("alpha", "openai")
        assert rep.view.key_states(T0) == {pool: _states(leased=1, available=2)}
        rep.succeed(best)
        assert rep.view.key_states(T0) == {pool: _states(leased=1, available=2)}  # one left
        rep.succeed(best)
        assert rep.view.key_states(T0) == {pool: _states(available=3)}

        await rep.acquire()
        await rep.fail(best, KeyOutcome.KEY_SCOPED)  # the call that held it is over
        await rep.acquire()
        await rep.fail(spare, KeyOutcome.RATE_LIMITED, retry_after=60)
        assert rep.view.key_states(T0) == {pool: _states(available=1, cooling=1, disabled=1)}

        taken = await rep.acquire()  # never returned: its call was cancelled, say
        assert taken.key_id == third
        assert rep.view.key_states(T0) == {pool: _states(leased=1, cooling=1, disabled=1)}
        later = key_pool_view.time.monotonic() + key_pool_view.FORGET_LEASE_SECONDS + 1
        with monkeypatch.context() as patched:  # only around this read: asyncio's clock too
            patched.setattr(key_pool_view.time, "monotonic", lambda: later)
            forgotten = rep.view.key_states(T0)
        assert forgotten == {pool: _states(available=1, cooling=1, disabled=1)}

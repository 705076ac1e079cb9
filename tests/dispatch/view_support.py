"""Shared setup for the key pool view tests (no tests here): replicas with their own engine
and view, a seeded pool, and waiting on a condition with a deadline."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from dispatch.key_pool_sync import ViewTiming
from dispatch.key_pool_view import KeyPoolView
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.keys import CooldownPolicy, KeyOutcome, LeasedKey, ProviderKey, RecordedFailure
from registry.teams import TeamRepository
from tests.registry.test_keys_support import RING_1, T0, PoolFactory, ring

# Nothing happens on a timer unless a test asks for it: flushes and re-reads are explicit.
QUIET = ViewTiming(flush_seconds=3600, refresh_seconds=3600, unheard_seconds=3600)
POLICY = CooldownPolicy(uniform=lambda: 1.0)  # a no-Retry-After cooldown is its cap
WITHIN = 1.0  # the promise: another replica's change is honoured within a second


@dataclass
class Replica:
    """What one gateway process holds: its own engine and view, and every statement it ran."""

    engine: Engine
    sessions: sessionmaker[Session]
    view: KeyPoolView
    team: Team
    statements: list[str] = field(default_factory=list)

    async def acquire(self, seconds: float = 0, model: str | None = None) -> LeasedKey:
        now = T0 + timedelta(seconds=seconds)
        return await self.view.acquire(self.team, "openai", now=now, model=model)

    async def fail(
        self,
        key_id: int,
        outcome: KeyOutcome,
        *,
        seconds: float = 0,
        retry_after: float | None = None,
        model: str | None = None,
        reason: str = "scripted",
    ) -> RecordedFailure:
        return await self.view.record_failure(
            self.team,
            "openai",
            key_id,
            outcome,
            policy=POLICY,
            now=T0 + timedelta(seconds=seconds),
            retry_after=retry_after,
            reason=reason,
            model=model,
        )

    def succeed(self, key_id: int, *, seconds: float = 0, model: str | None = None) -> None:
        now = T0 + timedelta(seconds=seconds)
        self.view.record_success(self.team, "openai", key_id, 12.5, now=now, model=model)

    async def listening(self) -> None:
        """Wait until LISTEN is live and the re-read that follows it is done."""
        await eventually(
            lambda: self.view.listening.is_set() and self.view.refreshes >= 1,
            within=30,
            what="the view to listen",
        )


@asynccontextmanager
async def replica(url: str, timing: ViewTiming = QUIET) -> AsyncIterator[Replica]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = TeamRepository(session).ensure("alpha")
    found = Replica(engine, sessions, KeyPoolView(engine, ring(RING_1), timing=timing), team)

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        found.statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        async with found.view:
            yield found
    finally:
        engine.dispose()


def stored(factory: PoolFactory, key_id: int) -> ProviderKey:
    with factory.pool() as pool:
        return pool.get(key_id)


async def eventually(
    condition: Callable[[], bool] | Callable[[], Awaitable[bool]],
    *,
    within: float = WITHIN,
    what: str,
) -> float:
    """Poll `condition` until it holds; the seconds it took, or AssertionError past `within`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        result = condition()
        held = await result if inspect.isawaitable(result) else result
        elapsed = loop.time() - started
        if held:
            return elapsed
        if elapsed > within:
            raise AssertionError(f"{what}: not within {within}s")
        await asyncio.sleep(0.005)


@contextmanager
def no_new_connections(engine: Engine) -> Iterator[None]:
    """The database refuses new connections (it cannot be told so from inside itself);
    connections already open go on working."""
    url = engine.url
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    allow = f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS'
    try:
        with admin.connect() as conn:
            conn.execute(text(f"{allow} false"))
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"{allow} true"))
        admin.dispose()

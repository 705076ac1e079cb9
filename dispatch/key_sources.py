"""Where a keyed call gets its keys and reports what happened: the database, one short
transaction per step (tasks, the CLI), or a process-wide KeyPoolView, from memory (the
gateway). One interface, so failover and budgets are written once, in `keyed_call`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from dispatch.key_pool_view import KeyPoolView
from registry.domain import Team
from registry.keys import (
    CooldownPolicy,
    KeyOutcome,
    KeyPool,
    LeasedKey,
    MasterKeyring,
    RecordedFailure,
)


class KeySource(Protocol):
    async def acquire(self, exclude: frozenset[int]) -> LeasedKey: ...

    async def pinned(self, key_id: int) -> LeasedKey: ...

    async def record_success(self, key_id: int, seconds: float) -> None: ...

    async def record_failure(
        self, key_id: int, outcome: KeyOutcome, retry_after: float | None, reason: str
    ) -> RecordedFailure: ...


@dataclass(frozen=True)
class SourceScope:
    """What every step names: whose keys, for which provider and model, on which clock."""

    team: Team
    provider: str
    model: str | None
    cooldowns: CooldownPolicy
    now: Callable[[], datetime]


@dataclass(frozen=True)
class DatabaseKeys:
    """Every step is a transaction of its own, in a worker thread."""

    sessions: sessionmaker[Session]
    keyring: MasterKeyring | None
    scope: SourceScope

    async def acquire(self, exclude: frozenset[int]) -> LeasedKey:
        return await asyncio.to_thread(self._acquire, exclude)

    async def pinned(self, key_id: int) -> LeasedKey:
        return await asyncio.to_thread(self._pinned, key_id)

    async def record_success(self, key_id: int, seconds: float) -> None:
        await asyncio.to_thread(self._record_success, key_id, seconds)

    async def record_failure(
        self, key_id: int, outcome: KeyOutcome, retry_after: float | None, reason: str
    ) -> RecordedFailure:
        return await asyncio.to_thread(self._record_failure, key_id, outcome, retry_after, reason)

    def _pool(self, session: Session) -> KeyPool:
        s = self.scope
        return KeyPool(session, s.team, self.keyring, policy=s.cooldowns, clock=s.now)

    def _acquire(self, exclude: frozenset[int]) -> LeasedKey:
        with self.sessions.begin() as session:
            pool = self._pool(session)
            return pool.acquire(self.scope.provider, model=self.scope.model, exclude=exclude)

    def _pinned(self, key_id: int) -> LeasedKey:
        with self.sessions.begin() as session:
            return self._pool(session).get_key_by_id(key_id)

    def _record_success(self, key_id: int, seconds: float) -> None:
        with self.sessions.begin() as session:
            self._pool(session).record_success(key_id, seconds * 1000, model=self.scope.model)

    def _record_failure(
        self, key_id: int, outcome: KeyOutcome, retry_after: float | None, reason: str
    ) -> RecordedFailure:
        with self.sessions.begin() as session:
            return self._pool(session).record_failure(
                key_id, outcome, retry_after=retry_after, reason=reason, model=self.scope.model
            )


@dataclass(frozen=True)
class ViewKeys:
    """Keys from a shared KeyPoolView: a success touches only memory."""

    view: KeyPoolView
    scope: SourceScope

    async def acquire(self, exclude: frozenset[int]) -> LeasedKey:
        s = self.scope
        return await self.view.acquire(
            s.team, s.provider, now=s.now(), model=s.model, exclude=exclude
        )

    async def pinned(self, key_id: int) -> LeasedKey:
        s = self.scope
        return await self.view.pinned(s.team, s.provider, key_id, now=s.now())

    async def record_success(self, key_id: int, seconds: float) -> None:
        s = self.scope
        self.view.record_success(
            s.team, s.provider, key_id, seconds * 1000, now=s.now(), model=s.model
        )

    async def record_failure(
        self, key_id: int, outcome: KeyOutcome, retry_after: float | None, reason: str
    ) -> RecordedFailure:
        s = self.scope
        return await self.view.record_failure(
            s.team,
            s.provider,
            key_id,
            outcome,
            policy=s.cooldowns,
            now=s.now(),
            retry_after=retry_after,
            reason=reason,
            model=s.model,
        )

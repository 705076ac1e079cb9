"""The key pool as one process sees it, for callers that must not touch the database on a
successful call (the gateway): keys are picked from memory, failures are written at once
(and NOTIFY the other processes), usage counters are written in batches.

Build one per process, share it across every ProviderHandle, close it on the way out:

    async with KeyPoolView(engine, keyring) as view:
        async with open_provider(..., pool_view=view) as handle: ...

A (team, provider) pool is read on its first use (a cache miss may touch the database) and
kept current by `dispatch.key_pool_sync`: on PostgreSQL, a key cooled or disabled by another
process is honoured within a second (LISTEN/NOTIFY; full re-reads every `refresh_seconds`,
and every `unheard_seconds` while the LISTEN connection is down). SQLite cannot LISTEN: the
view re-reads every `unheard_seconds` instead, so the CLI's changes also land within a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from asyncio import Future, shield
from collections import deque
from collections.abc import Callable, Set
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine

from dispatch.key_pool_store import FailureReport, PoolStore
from dispatch.key_pool_sync import PoolFollower, ViewTiming
from registry.database import make_session_factory
from registry.domain import Team
from registry.keys import (
    CooldownPolicy,
    KeyOutcome,
    KeyStatus,
    LeasedKey,
    MasterKeyMissingError,
    MasterKeyring,
    ModelCooldown,
    RecordedFailure,
)
from registry.keys.pool_state import HeldKey, ScopeState
from registry.keys.usage import KeyUsage
from registry.notifications import KeyNotice
from registry.orm import utcnow

log = logging.getLogger("dispatch.key_pool_view")
Scope = tuple[int, str]  # team id, provider name
R = TypeVar("R")
# What `key_states` counts: an active key is `leased` while a call of this process holds it.
KEY_STATES = ("available", "leased", "cooling", "disabled")
# A lease never returned (its call was cancelled between acquire and the record) stops
# counting after this long: far beyond any call's budget.
FORGET_LEASE_SECONDS = 600.0


class KeyPoolView:
    """Every (team, provider) key pool this process uses, in memory. See the module doc."""

    def __init__(
        self, engine: Engine, keyring: MasterKeyring | None, *, timing: ViewTiming | None = None
    ) -> None:
        self._store = PoolStore(make_session_factory(engine), keyring)
        self._keyring = keyring
        self.timing = timing or ViewTiming()
        dsn = None  # SQLite cannot LISTEN: the follower re-reads every `unheard_seconds`
        if engine.dialect.name == "postgresql":  # psycopg's own connection string
            dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._follower = PoolFollower(dsn, self.timing, reread=self._reread, refresh=self.refresh)
        self._scopes: dict[Scope, ScopeState] = {}
        self._by_ids: dict[tuple[int, int], ScopeState] = {}  # (team id, provider id)
        self._usage: dict[int, KeyUsage] = {}
        self._in_flight: dict[int, deque[float]] = {}  # key id → when each call took it
        self._generation = 0  # bumped by each failure written, noted by each read as it begins
        self._reads = asyncio.Lock()  # reads apply in the order they began
        self._flusher: asyncio.Task[None] | None = None
        self._writes: set[Future[Any]] = set()  # in worker threads now
        self.refreshes = 0  # full re-reads done (a counter for /metrics and tests)

    # -- lifetime --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start following changes and writing usage; pools are read on first use."""
        self._follower.start()
        self._flusher = asyncio.create_task(self._flush_loop(), name="key-pool-flush")

    async def close(self) -> None:
        """Stop following, then write the usage not yet written."""
        await self._follower.close()
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        await asyncio.gather(*self._writes, return_exceptions=True)  # settled: kept or written
        try:
            await self.flush()
        except Exception as exc:
            lost = sum(usage.requests for usage in self._usage.values())
            log.warning("key usage of %d requests not written (%s)", lost, type(exc).__name__)

    async def __aenter__(self) -> KeyPoolView:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def listening(self) -> asyncio.Event:
        """Set while the LISTEN connection is live (never on SQLite)."""
        return self._follower.listening

    # -- the call path ---------------------------------------------------------------------

    async def acquire(
        self,
        team: Team,
        provider: str,
        *,
        now: datetime,
        model: str | None = None,
        exclude: Set[int] = frozenset(),
    ) -> LeasedKey:
        """As `KeyPool.acquire`, from memory: no database round trip once the pool is read."""
        ring = self._ring()
        scope = self._scopes.get((team.id, provider)) or await self._load(team, provider)
        lease = scope.pick(ring, now=now, model=model, exclude=exclude)
        self._usage_of(scope, lease.key_id).used(now)
        self._taken(lease.key_id)
        return lease

    async def pinned(self, team: Team, provider: str, key_id: int, *, now: datetime) -> LeasedKey:
        """As `KeyPool.get_key_by_id` (the key that created a job); a key this view does not
        hold (another provider's, say) is fetched from the database."""
        ring = self._ring()
        scope = self._scopes.get((team.id, provider)) or await self._load(team, provider)
        lease = scope.pinned(key_id, ring, now=now)
        if lease is None:
            lease = await asyncio.to_thread(self._store.pinned, team, key_id, now)
        else:
            self._usage_of(scope, key_id).used(now)
        self._taken(key_id)
        return lease

    def record_success(
        self,
        team: Team,
        provider: str,
        key_id: int,
        latency_ms: float,
        *,
        now: datetime,
        model: str | None = None,
    ) -> None:
        """Counted in memory; written with the next batch. The key was leased from this view."""
        self._returned(key_id)
        scope = self._scopes.get((team.id, provider))
        if scope is None:
            raise LookupError(f"no {provider} key of team {team.name!r} was leased from this view")
        # A model never cooled has no failure streak to end (a row made after this success
        # would not be reset by it anyway); a key fetched from another provider has none here.
        streak = model if model in scope.models and key_id in scope.keys else None
        self._usage_of(scope, key_id).succeeded(now, latency_ms, streak)

    async def record_failure(
        self,
        team: Team,
        provider: str,
        key_id: int,
        outcome: KeyOutcome,
        *,
        policy: CooldownPolicy,
        now: datetime,
        retry_after: float | None = None,
        reason: str = "",
        model: str | None = None,
    ) -> RecordedFailure:
        """As `KeyPool.record_failure`, at once, in one transaction with the key's unwritten
        usage (so a success before the failure ends the streak before it grows); NOTIFY tells
        the other processes. This process takes the database's answer in."""
        self._returned(key_id)
        scope = self._scopes.get((team.id, provider)) or await self._load(team, provider)
        usage = self._usage.pop(key_id, None)
        failure = FailureReport(key_id, outcome, retry_after, reason, model)

        def settled(write: Future[tuple[RecordedFailure, ModelCooldown | None]]) -> None:
            if write.cancelled() or write.exception() is not None:
                self._restore([usage] if usage else [])
                return
            recorded, cooled = write.result()
            # Counted once committed: any read begun before now may predate the write.
            self._generation += 1
            scope.apply_failure(recorded, cooled, generation=self._generation)

        args = (team, provider, failure, usage, policy, now)
        recorded, _ = await shield(self._write(settled, self._store.write_failure, *args))
        return recorded

    # -- usage -----------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write the usage counted so far in one transaction; on failure it is kept for the
        next flush and the error is raised."""
        batch, self._usage = list(self._usage.values()), {}
        if not batch:
            return

        def settled(write: Future[None]) -> None:
            if write.cancelled() or write.exception() is not None:
                self._restore(batch)

        await shield(self._write(settled, self._store.write_usage, batch))

    def unwritten_requests(self) -> int:
        """Requests counted but not yet written (a gauge for /metrics)."""
        return sum(usage.requests for usage in self._usage.values())

    def held(self, now: datetime | None = None) -> dict[Scope, list[HeldKey]]:
        """The keys held per (team id, provider), best first, with their effective status
        (for /metrics and checks; no secret)."""
        at = now or utcnow()
        return {scope_id: scope.held(at) for scope_id, scope in self._scopes.items()}

    def key_states(self, now: datetime | None = None) -> dict[tuple[str, str], dict[str, int]]:
        """Keys per (team name, provider) of the pools this process holds, counted by state
        (every one of KEY_STATES, zeros included): cooling and disabled as effective now;
        an active key is `leased` while a call of this process holds it, else `available`.
        From memory only: for /metrics, read on the event loop."""
        at = now or utcnow()
        self._forget_stale_leases()
        states: dict[tuple[str, str], dict[str, int]] = {}
        for (_, provider), scope in self._scopes.items():
            counts = states.setdefault((scope.team.name, provider), dict.fromkeys(KEY_STATES, 0))
            for key in scope.held(at):
                state = key.status.value
                if key.status is KeyStatus.ACTIVE:
                    state = "leased" if key.key_id in self._in_flight else "available"
                counts[state] += 1
        return states

    # -- reads -----------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Re-read every pool held (the safety net; also after LISTEN reconnects)."""
        async with self._reads:
            since = self._generation
            scopes = dict(self._by_ids)
            records = await asyncio.to_thread(self._store.read_pairs, scopes.keys())
            for pair, scope in scopes.items():
                keys = [k for k in records.keys if (k.team_id, k.provider_id) == pair]
                models = [m for m in records.models if (m.team_id, m.provider_id) == pair]
                scope.replace(keys, models, since=since)
            self.refreshes += 1

    async def _reread(self, notices: list[KeyNotice]) -> None:
        """Re-read what the notices name, for the pools this view holds."""
        held = [n for n in notices if (n.team_id, n.provider_id) in self._by_ids]
        key_ids = {n.key_id for n in held if n.key_id is not None}
        models = {(n.team_id, n.provider_id, n.model) for n in held if n.model is not None}
        if not key_ids and not models:
            return
        async with self._reads:
            since = self._generation
            records = await asyncio.to_thread(self._store.read_noticed, key_ids, models)
            for record in records.keys:
                scope = self._by_ids.get((record.team_id, record.provider_id))
                if scope is not None:
                    scope.apply_keys([record], since=since)
            for model in records.models:
                self._by_ids[(model.team_id, model.provider_id)].apply_models([model])

    async def _load(self, team: Team, provider: str) -> ScopeState:
        async with self._reads:
            scope = self._scopes.get((team.id, provider))
            if scope is None:
                since = self._generation
                read = await asyncio.to_thread(self._store.read_scope, team, provider)
                provider_id, records = read
                scope = ScopeState(team, provider, provider_id)
                scope.replace(records.keys, records.models, since=since)
                self._scopes[(team.id, provider)] = scope
                self._by_ids[(team.id, provider_id)] = scope
            return scope

    # -- helpers ---------------------------------------------------------------------------

    def _ring(self) -> MasterKeyring:
        if self._keyring is None:
            raise MasterKeyMissingError()
        return self._keyring

    def _usage_of(self, scope: ScopeState, key_id: int) -> KeyUsage:
        usage = self._usage.get(key_id)
        if usage is None:
            usage = self._usage[key_id] = KeyUsage(scope.team.id, scope.provider_id, key_id)
        return usage

    def _taken(self, key_id: int) -> None:
        self._in_flight.setdefault(key_id, deque()).append(time.monotonic())

    def _returned(self, key_id: int) -> None:
        """One call that held the key is over (succeeded or failed)."""
        taken = self._in_flight.get(key_id)
        if taken:
            taken.popleft()
            if not taken:
                del self._in_flight[key_id]

    def _forget_stale_leases(self) -> None:
        oldest = time.monotonic() - FORGET_LEASE_SECONDS
        for key_id, taken in list(self._in_flight.items()):
            while taken and taken[0] < oldest:
                taken.popleft()
            if not taken:
                del self._in_flight[key_id]

    def _restore(self, usages: list[KeyUsage]) -> None:
        """Fold usage whose write failed back in, for the next flush."""
        for taken in usages:
            usage = self._usage.get(taken.key_id)
            if usage is None:
                usage = self._usage[taken.key_id] = KeyUsage(
                    taken.team_id, taken.provider_id, taken.key_id
                )
            usage.merge(taken)

    def _write(
        self, settled: Callable[[Future[R]], None], step: Callable[..., R], *args: object
    ) -> Future[R]:
        """Run a write in a worker thread; `settled` takes in its outcome when the thread is
        done, even if the caller was cancelled meanwhile (the transaction commits or not all
        the same), so usage is neither lost nor written twice. `close` waits for it."""
        write = asyncio.ensure_future(asyncio.to_thread(step, *args))
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)
        write.add_done_callback(settled)
        return write

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.timing.flush_seconds)
            try:
                await self.flush()
            except Exception as exc:  # kept for the next flush
                log.warning("writing key usage failed (%s); retrying", type(exc).__name__)


__all__ = ["KEY_STATES", "HeldKey", "KeyPoolView", "ViewTiming"]

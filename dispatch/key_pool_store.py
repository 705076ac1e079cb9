"""The database work of a KeyPoolView, one short transaction per step; run in worker threads
so the event loop never waits on the database."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from registry.domain import Team
from registry.keys import (
    CooldownPolicy,
    KeyOutcome,
    KeyPool,
    LeasedKey,
    MasterKeyring,
    ModelCooldown,
    RecordedFailure,
)
from registry.keys.pool_reads import (
    Pair,
    PoolReader,
    PoolRecords,
    read_keys,
    read_models,
    read_pairs,
)
from registry.keys.usage import KeyUsage, write_usage


@dataclass(frozen=True)
class FailureReport:
    """What a failed call says, as `KeyPool.record_failure` takes it."""

    key_id: int
    outcome: KeyOutcome
    retry_after: float | None
    reason: str
    model: str | None


@dataclass(frozen=True)
class PoolStore:
    sessions: sessionmaker[Session]
    keyring: MasterKeyring | None

    def read_scope(self, team: Team, provider: str) -> tuple[int, PoolRecords]:
        """The provider's id and the team's records on it; an unknown provider raises
        registry NotFoundError listing the known ones."""
        with self.sessions.begin() as session:
            provider_id = PoolReader(session, team).provider_id(provider)
            return provider_id, read_pairs(session, [(team.id, provider_id)])

    def read_pairs(self, pairs: Collection[Pair]) -> PoolRecords:
        with self.sessions.begin() as session:
            return read_pairs(session, pairs)

    def read_noticed(
        self, key_ids: Collection[int], models: Collection[tuple[int, int, str]]
    ) -> PoolRecords:
        with self.sessions.begin() as session:
            return PoolRecords(read_keys(session, key_ids), read_models(session, models))

    def pinned(self, team: Team, key_id: int, now: datetime) -> LeasedKey:
        with self.sessions.begin() as session:
            return self._pool(session, team, now).get_key_by_id(key_id)

    def write_usage(self, usages: list[KeyUsage]) -> None:
        with self.sessions.begin() as session:
            write_usage(session, usages)

    def write_failure(
        self,
        team: Team,
        provider: str,
        failure: FailureReport,
        usage: KeyUsage | None,
        policy: CooldownPolicy,
        now: datetime,
    ) -> tuple[RecordedFailure, ModelCooldown | None]:
        """The key's unwritten usage first (a success before the failure ends the streak
        before it grows), then the failure; NOTIFY goes out with the commit. Returns what
        the database recorded and, if the model cooled, its cooldown (reason scrubbed)."""
        with self.sessions.begin() as session:
            if usage is not None:
                write_usage(session, [usage])
            pool = self._pool(session, team, now, policy)
            recorded = pool.record_failure(
                failure.key_id,
                failure.outcome,
                retry_after=failure.retry_after,
                reason=failure.reason,
                model=failure.model,
            )
            cooled = None
            if recorded.model_cooldown_until is not None and failure.model is not None:
                cooled = pool.model_cooldown(provider, failure.model)
            return recorded, cooled

    def _pool(
        self, session: Session, team: Team, now: datetime, policy: CooldownPolicy | None = None
    ) -> KeyPool:
        return KeyPool(session, team, self.keyring, policy=policy, clock=lambda: now)

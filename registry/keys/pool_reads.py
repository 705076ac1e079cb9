"""Reads for key caches: keys with their state and still-sealed secrets, and model cooldowns,
by team and provider, by id, or for many (team, provider) pairs at once."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from registry.errors import translate_database_errors
from registry.keys.crypto import KeyBinding, SealedSecret
from registry.keys.repository import KeyRepository
from registry.keys.tables import ModelCooldownRow, ProviderKeyRow

K = ProviderKeyRow
M = ModelCooldownRow
Pair = tuple[int, int]  # team id, provider id


@dataclass(frozen=True)
class KeyRecord:
    """A key as stored: its selection state and its secret, sealed (opened only when leased)."""

    key_id: int
    team_id: int
    provider_id: int
    label: str
    last4: str
    priority: int
    status: str
    cooldown_until: datetime | None
    disabled_reason: str | None
    last_used_at: datetime | None
    sealed: SealedSecret

    @property
    def binding(self) -> KeyBinding:
        return KeyBinding(team_id=self.team_id, provider_id=self.provider_id, key_id=self.key_id)


@dataclass(frozen=True)
class ModelRecord:
    team_id: int
    provider_id: int
    model: str
    cooldown_until: datetime
    reason: str
    consecutive_failures: int


@dataclass(frozen=True)
class PoolRecords:
    """Everything stored for some (team, provider) pairs."""

    keys: list[KeyRecord]
    models: list[ModelRecord]


class PoolReader(KeyRepository):
    """The records of one team's pool on one provider. Never writes."""

    def provider_id(self, provider: str) -> int:
        """Raises registry NotFoundError, listing the known providers, for an unknown one."""
        return self._provider(provider).id


def read_pairs(session: Session, pairs: Collection[Pair]) -> PoolRecords:
    """Every key and model cooldown of these (team, provider) pairs."""
    if not pairs:
        return PoolRecords([], [])
    wanted = sorted(pairs)
    with translate_database_errors("reading the key pool"):
        keys = session.scalars(_keys().where(tuple_(K.team_id, K.provider_id).in_(wanted)))
        models = session.scalars(select(M).where(tuple_(M.team_id, M.provider_id).in_(wanted)))
        return PoolRecords([_key(row) for row in keys], [_model(row) for row in models])


def read_keys(session: Session, key_ids: Collection[int]) -> list[KeyRecord]:
    with translate_database_errors("reading keys"):
        return [_key(row) for row in session.scalars(_keys().where(K.id.in_(sorted(key_ids))))]


def read_models(session: Session, wanted: Collection[tuple[int, int, str]]) -> list[ModelRecord]:
    """The cooldowns of these (team id, provider id, provider model id) triples that exist."""
    if not wanted:
        return []
    triples = tuple_(M.team_id, M.provider_id, M.provider_model_id)
    with translate_database_errors("reading model cooldowns"):
        rows = session.scalars(select(M).where(triples.in_(sorted(wanted))))
        return [_model(row) for row in rows]


def _keys() -> Select[tuple[ProviderKeyRow]]:
    return select(K).order_by(K.id)


def _key(row: ProviderKeyRow) -> KeyRecord:
    return KeyRecord(
        key_id=row.id,
        team_id=row.team_id,
        provider_id=row.provider_id,
        label=row.label,
        last4=row.last4,
        priority=row.priority,
        status=row.status,
        cooldown_until=row.cooldown_until,
        disabled_reason=row.disabled_reason,
        last_used_at=row.last_used_at,
        sealed=SealedSecret(
            ciphertext=row.ciphertext,
            nonce=row.nonce,
            wrapped_dek=row.wrapped_dek,
            dek_nonce=row.dek_nonce,
            kek_version=row.kek_version,
            kek_fingerprint=row.kek_fingerprint,
        ),
    )


def _model(row: ModelCooldownRow) -> ModelRecord:
    return ModelRecord(
        team_id=row.team_id,
        provider_id=row.provider_id,
        model=row.provider_model_id,
        cooldown_until=row.cooldown_until,
        reason=row.reason,
        consecutive_failures=row.consecutive_failures,
    )

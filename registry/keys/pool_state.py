"""One team's key pool on one provider, held in memory: picks a key by the rule of
`KeyPool.acquire` with no database round trip, and takes in what the database says.

Pure state (no I/O); `dispatch.key_pool_view` reads the records and keeps them current.
Secrets stay sealed until a key is first leased, then live only as a SecretStr.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import SecretStr

from registry.domain import Team
from registry.keys.availability import explain_unavailable
from registry.keys.crypto import MasterKeyring, unseal
from registry.keys.domain import KeyStatus, LeasedKey, ModelCooldown, RecordedFailure
from registry.keys.errors import KeyDisabledError, NoKeyAvailableError
from registry.keys.pool_reads import KeyRecord, ModelRecord
from registry.keys.repository import effective_status

NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class HeldKey:
    """A key as a view holds it, for metrics and checks: never the secret."""

    key_id: int
    label: str
    last4: str
    priority: int
    status: KeyStatus  # effective at the time asked
    cooldown_until: datetime | None


@dataclass
class CachedKey:
    record: KeyRecord  # as last read; the fields below may be newer
    status: str
    cooldown_until: datetime | None
    last_used_at: datetime | None
    used_seq: int = 0  # order of local uses, for ties between equal `last_used_at`
    written: int = 0  # generation of the last failure this process wrote for the key
    credential: SecretStr | None = None

    @classmethod
    def of(cls, record: KeyRecord) -> CachedKey:
        return cls(record, record.status, record.cooldown_until, record.last_used_at)

    def usable(self, now: datetime) -> bool:
        if self.status == KeyStatus.DISABLED:
            return False
        return self.cooldown_until is None or self.cooldown_until <= now

    def rank(self) -> tuple[int, bool, datetime, int, int]:
        """Highest priority first, then least recently used (never used first), then id."""
        used = self.last_used_at
        return (-self.record.priority, used is not None, used or NEVER, self.used_seq, self.id)

    @property
    def id(self) -> int:
        return self.record.key_id


class ScopeState:
    """The keys of `team` on `provider`, and the provider's model cooldowns for the team."""

    def __init__(self, team: Team, provider: str, provider_id: int) -> None:
        self.team = team
        self.provider = provider
        self.provider_id = provider_id
        self.keys: dict[int, CachedKey] = {}
        self.models: dict[str, ModelCooldown] = {}
        self._uses = 0

    def pick(
        self, ring: MasterKeyring, *, now: datetime, model: str | None, exclude: Set[int]
    ) -> LeasedKey:
        """The usable key of highest priority, least recently used; stamps its local use.

        Raises NoKeyAvailableError exactly as `KeyPool.acquire` does.
        """
        cooling = self._model_cooling(model, now)
        if cooling is not None:
            raise self._unavailable(now, exclude, cooling)
        usable = [k for k in self.keys.values() if k.id not in exclude and k.usable(now)]
        if not usable:
            raise self._unavailable(now, exclude, None)
        return self._lease(min(usable, key=CachedKey.rank), ring, now)

    def pinned(self, key_id: int, ring: MasterKeyring, *, now: datetime) -> LeasedKey | None:
        """The key by id whatever its cooldown, as `KeyPool.get_key_by_id`; None if unknown."""
        key = self.keys.get(key_id)
        if key is None:
            return None
        if key.status == KeyStatus.DISABLED:
            record = key.record
            reason = record.disabled_reason
            raise KeyDisabledError.pinned(key.id, record.label, record.last4, reason)
        return self._lease(key, ring, now, keep_status=True)

    # -- what the database says -----------------------------------------------------

    def apply_keys(self, records: Iterable[KeyRecord], *, since: int) -> None:
        """Take in keys read from the database by a read that began at generation `since`.

        Deadlines only move later, so the later one wins. The status is the database's,
        unless this process wrote a failure for the key after the read began: then its own
        (newer) status stands, and the notice of its write brings the next read.
        """
        for record in records:
            key = self.keys.get(record.key_id)
            if key is None:
                self.keys[record.key_id] = CachedKey.of(record)
                continue
            if record.sealed.ciphertext != key.record.sealed.ciphertext:
                key.credential = None  # another secret: open the new one when leased
            key.record = record
            key.cooldown_until = _later(key.cooldown_until, record.cooldown_until)
            key.last_used_at = _later(key.last_used_at, record.last_used_at)
            if key.written <= since:
                key.status = record.status

    def replace(self, keys: list[KeyRecord], models: list[ModelRecord], *, since: int) -> None:
        """A full re-read: as `apply_keys` and `apply_models`, and keys no longer stored are
        dropped (model cooldowns are never deleted, and their deadlines only move later)."""
        stored = {record.key_id for record in keys}
        for key_id in [key_id for key_id in self.keys if key_id not in stored]:
            del self.keys[key_id]
        self.apply_keys(keys, since=since)
        self.apply_models(models)

    def apply_models(self, records: Iterable[ModelRecord]) -> None:
        for record in records:
            self._cool_model(
                ModelCooldown(
                    provider=self.provider,
                    model=record.model,
                    cooldown_until=record.cooldown_until,
                    reason=record.reason,
                    consecutive_failures=record.consecutive_failures,
                )
            )

    def apply_failure(
        self, recorded: RecordedFailure, model: ModelCooldown | None, *, generation: int
    ) -> None:
        """What this process's own `record_failure` wrote (the database's answer)."""
        key = self.keys.get(recorded.key_id)
        if key is not None:
            key.written = generation
            key.cooldown_until = _later(key.cooldown_until, recorded.key_cooldown_until)
            if recorded.key_status is KeyStatus.DISABLED:
                key.status = KeyStatus.DISABLED.value
            elif recorded.key_status is KeyStatus.COOLING:
                key.status = KeyStatus.COOLING.value
        if model is not None:
            self._cool_model(model)

    def held(self, now: datetime) -> list[HeldKey]:
        return [
            HeldKey(
                key_id=key.id,
                label=key.record.label,
                last4=key.record.last4,
                priority=key.record.priority,
                status=effective_status(key.status, key.cooldown_until, now),
                cooldown_until=key.cooldown_until,
            )
            for key in sorted(self.keys.values(), key=CachedKey.rank)
        ]

    # -- internals --------------------------------------------------------------------

    def _lease(
        self, key: CachedKey, ring: MasterKeyring, now: datetime, *, keep_status: bool = False
    ) -> LeasedKey:
        if key.credential is None:
            key.credential = unseal(key.record.sealed, key.record.binding, ring)
        self._uses += 1
        key.used_seq, key.last_used_at = self._uses, now
        if not keep_status:
            key.status = KeyStatus.ACTIVE.value  # as `acquire`: a key picked is not cooling
        record = key.record
        return LeasedKey(
            key_id=key.id,
            provider=self.provider,
            label=record.label,
            last4=record.last4,
            priority=record.priority,
            cooldown_until=key.cooldown_until,
            credential=key.credential,
        )

    def _cool_model(self, cooldown: ModelCooldown) -> None:
        known = self.models.get(cooldown.model)
        if known is None or cooldown.cooldown_until >= known.cooldown_until:
            self.models[cooldown.model] = cooldown

    def _model_cooling(self, model: str | None, now: datetime) -> ModelCooldown | None:
        cooling = None if model is None else self.models.get(model)
        return cooling if cooling is not None and cooling.cooldown_until > now else None

    def _unavailable(
        self, now: datetime, exclude: Set[int], model: ModelCooldown | None
    ) -> NoKeyAvailableError:
        return explain_unavailable(
            [(key.id, key.status, key.cooldown_until) for key in self.keys.values()],
            team=self.team.name,
            provider=self.provider,
            now=now,
            exclude=exclude,
            model=model,
        )


def _later(moment: datetime | None, other: datetime | None) -> datetime | None:
    if moment is None:
        return other
    return moment if other is None or moment >= other else other

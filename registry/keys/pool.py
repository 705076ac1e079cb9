"""The key pool at call time: pick a key, and learn from what the provider said.

Every decision lives in the database and is made on locked rows, so any number of
processes share one pool. Callers own the transaction and should commit right after
`acquire` (before calling the provider): the row lock lasts until commit.

Multi-process safety:
- PostgreSQL: `acquire` is one `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)
  RETURNING`; the lock re-checks the row's latest committed state, so a key disabled or
  cooled by another process is never picked. SKIP LOCKED spreads concurrent callers over
  keys; if it finds nothing (every eligible key momentarily locked) a blocking FOR UPDATE
  pass runs, so "no key" is never caused by another caller's lock.
- SQLite: transactions are BEGIN IMMEDIATE (see `registry.database.make_engine`), one writer at a
  time, so the same single statement is atomic.
- Outcomes are single UPDATEs (or an upsert) whose new deadline is max(old, new) in SQL.
Deadlines are computed from the caller's UTC clock (injectable for tests); hosts sharing
one database are expected to keep their clocks in sync (NTP).
"""

from __future__ import annotations

from collections.abc import Set
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import case, literal, select, update
from sqlalchemy.orm import Session

from registry import notifications
from registry.domain import Team
from registry.errors import translate_database_errors
from registry.keys.availability import explain_unavailable
from registry.keys.cooldowns import CooldownPolicy, cool_model, later_of
from registry.keys.crypto import MasterKeyring
from registry.keys.domain import (
    KeyEventKind,
    KeyOutcome,
    KeyStatus,
    LeasedKey,
    ModelCooldown,
    RecordedFailure,
)
from registry.keys.errors import (
    KeyDecryptionError,
    KeyDisabledError,
    MasterKeyNotInRingError,
    NoKeyAvailableError,
)
from registry.keys.repository import Clock, KeyRepository, effective_status, log
from registry.keys.tables import ModelCooldownRow, ProviderKeyRow
from registry.keys.validation import scrub
from registry.notifications import KeyNotice
from registry.orm import utcnow
from registry.tables import ProviderRow

K = ProviderKeyRow
NO_KEYS: frozenset[int] = frozenset()


class KeyPool(KeyRepository):
    """The keys of one team, as provider calls use them. Never commits."""

    def __init__(
        self,
        session: Session,
        team: Team,
        keyring: MasterKeyring | None = None,
        *,
        policy: CooldownPolicy | None = None,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(session, team, keyring, clock=clock)
        self._policy = policy or CooldownPolicy()

    def acquire(
        self, provider: str, *, model: str | None = None, exclude: Set[int] = NO_KEYS
    ) -> LeasedKey:
        """The usable key of highest priority, least recently used first; stamps its use.

        Usable: not disabled and not cooling (a cooling key whose deadline passed is usable
        and becomes active). `exclude` holds keys this request already tried. Raises
        NoKeyAvailableError (with `first_free_at`) when none is, or when `model` is cooling.
        """
        self._require_ring()
        prov = self._provider(provider)
        now = self._clock()
        cooling = self._model_cooling(prov.id, model, now) if model else None
        if cooling is not None:
            raise self._unavailable(prov, now, exclude, cooling)
        with translate_database_errors(f"acquiring a {provider} key"):
            row = self._claim(prov.id, now, exclude, skip_locked=True)
            if row is None:
                row = self._claim(prov.id, now, exclude, skip_locked=False)
        if row is None:
            raise self._unavailable(prov, now, exclude, None)
        return self._lease(row, prov.name)

    def get_key_by_id(self, key_id: int, *, allow_disabled: bool = False) -> LeasedKey:
        """A specific key, for jobs that must keep using the key that created them.

        Works while the key is cooling (`cooldown_until` says until when, so a poller can
        wait); refuses a disabled key with KeyDisabledError unless `allow_disabled` (e.g. to
        cancel a job on a key an operator is draining).
        """
        self._require_ring()
        row = self._row(key_id, for_update=True)
        if row.status == KeyStatus.DISABLED and not allow_disabled:
            raise KeyDisabledError.pinned(row.id, row.label, row.last4, row.disabled_reason)
        row = self._update_key(
            key_id, {"last_used_at": self._clock(), "request_count": K.request_count + 1}
        )
        return self._lease(row, self._provider_name(row))

    def record_success(
        self, key_id: int, latency_ms: float | None = None, *, model: str | None = None
    ) -> None:
        """A call on the key worked: its error counts reset (a running cooldown is kept)."""
        now = self._clock()
        values: dict[str, Any] = {
            "success_count": K.success_count + 1,
            "error_count": 0,
            "consecutive_failures": 0,
            "last_success_at": now,
            "latency_ms_total": K.latency_ms_total + (latency_ms or 0.0),
        }
        row = self._update_key(key_id, values)
        if model is not None:
            M = ModelCooldownRow
            self._session.execute(
                update(M)
                .where(M.team_id == row.team_id, M.provider_id == row.provider_id)
                .where(M.provider_model_id == model)
                .values(consecutive_failures=0)
            )

    def record_failure(
        self,
        key_id: int,
        outcome: KeyOutcome,
        *,
        retry_after: float | None = None,
        reason: str = "",
        model: str | None = None,
    ) -> RecordedFailure:
        """Apply what a failed call says (see KeyOutcome); returns what now cools and until when.

        rate_limited: the key cools until max(its deadline, now + Retry-After or backoff).
        key_scoped: the key is disabled with `reason`, and a `disabled` event is written.
        model_scoped: `model` cools on the key's provider (same max rule); the key does not.
            Without a model there is nothing to cool, so it counts as transient.
        unreachable: `model` cools as for model_scoped; the key is never charged, with or
            without a model (the provider could not be reached with any key).
        timed_out: the key's error count goes up; after the policy's `timeouts_before_cooldown`
            timeouts in a row (no success or other failure in between) the key cools.
        request_scoped: nothing changes. transient: the key's error count goes up.
        """
        if outcome is KeyOutcome.MODEL_SCOPED and not model:
            outcome = KeyOutcome.TRANSIENT  # no model to cool (e.g. a model listing call)
        now = self._clock()
        row = self._row(key_id)
        if outcome is KeyOutcome.REQUEST_SCOPED or (
            outcome is KeyOutcome.UNREACHABLE and not model
        ):
            return RecordedFailure(key_id=row.id, outcome=outcome, key_status=self._status(row))
        reason = self._scrub(row, reason)
        if outcome in (KeyOutcome.MODEL_SCOPED, KeyOutcome.UNREACHABLE):
            return self._cool_model(row, str(model), outcome, reason, retry_after, now)
        row = self._update_key(key_id, _charged(outcome, now))
        if outcome is KeyOutcome.RATE_LIMITED:
            delay = self._policy.delay(retry_after, row.consecutive_failures)
            row = self._cool_key(row, reason, delay, now, retry_after=retry_after)
        elif outcome is KeyOutcome.TIMED_OUT:
            row = self._cool_if_hung(row, reason, now)
        elif outcome is KeyOutcome.KEY_SCOPED:
            row = self._disable_for_fault(row, reason)
        return RecordedFailure(
            key_id=row.id,
            outcome=outcome,
            key_status=self._status(row),
            key_cooldown_until=row.cooldown_until,
        )

    def model_cooldown(self, provider: str, model: str) -> ModelCooldown | None:
        """The model's cooldown record on the provider (its deadline may have passed)."""
        prov = self._provider(provider)
        row = self._model_row(prov.id, model)
        return None if row is None else _model_cooldown(row, prov.name)

    # -- internals ----------------------------------------------------------------

    def _claim(
        self, provider_id: int, now: datetime, exclude: Set[int], *, skip_locked: bool
    ) -> ProviderKeyRow | None:
        pick = (
            select(K.id)
            .where(K.team_id == self._team.id, K.provider_id == provider_id)
            .where(K.status != KeyStatus.DISABLED.value)
            .where(K.cooldown_until.is_(None) | (K.cooldown_until <= now))
            .order_by(K.priority.desc(), K.last_used_at.asc().nulls_first(), K.id)
            .limit(1)
            .with_for_update(skip_locked=skip_locked)
        )
        if exclude:
            pick = pick.where(K.id.not_in(sorted(exclude)))
        stmt = (
            update(K)
            .where(K.id == pick.scalar_subquery())
            .values(
                last_used_at=now,
                request_count=K.request_count + 1,
                status=KeyStatus.ACTIVE.value,
            )
            .returning(K)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        return self._session.scalars(stmt).one_or_none()

    def _lease(self, row: ProviderKeyRow, provider: str) -> LeasedKey:
        return LeasedKey(
            key_id=row.id,
            provider=provider,
            label=row.label,
            last4=row.last4,
            priority=row.priority,
            cooldown_until=row.cooldown_until,
            credential=SecretStr(self._open(row)),
        )

    def _cool_key(
        self,
        row: ProviderKeyRow,
        reason: str,
        delay: float,
        now: datetime,
        *,
        retry_after: float | None = None,
    ) -> ProviderKeyRow:
        wanted = now + timedelta(seconds=delay)
        keep_disabled = case(
            (K.status == KeyStatus.DISABLED.value, K.status), else_=KeyStatus.COOLING.value
        )
        row = self._update_key(
            row.id, {"cooldown_until": later_of(K.cooldown_until, wanted), "status": keep_disabled}
        )
        detail = {"until": _iso(row.cooldown_until), "asked_until": _iso(wanted), "reason": reason}
        self._event(row, KeyEventKind.COOLED, {**detail, "retry_after": retry_after})
        self._notify(row, "cool")
        log.info(
            "key %d (%s …%s) cooling until %s: %s",
            row.id,
            row.label,
            row.last4,
            detail["until"],
            reason,
        )
        return row

    def _cool_if_hung(self, row: ProviderKeyRow, reason: str, now: datetime) -> ProviderKeyRow:
        """Cool the key once its timeouts in a row reach the policy's threshold."""
        streak = row.consecutive_failures
        delay = self._policy.timeout_delay(streak)
        if delay is None:
            return row
        return self._cool_key(row, f"{streak} timeouts in a row; the last: {reason}", delay, now)

    def _disable_for_fault(self, row: ProviderKeyRow, reason: str) -> ProviderKeyRow:
        reason = reason or "the provider rejected the key"
        values = {"status": KeyStatus.DISABLED.value, "disabled_reason": reason}
        row = self._update_key(row.id, values)
        self._event(row, KeyEventKind.DISABLED, {"reason": reason, "by": "provider"})
        self._notify(row, "disable")
        log.warning("key %d (%s …%s) disabled: %s", row.id, row.label, row.last4, reason)
        return row

    def _cool_model(
        self,
        row: ProviderKeyRow,
        model: str,
        outcome: KeyOutcome,
        reason: str,
        retry_after: float | None,
        now: datetime,
    ) -> RecordedFailure:
        with translate_database_errors(f"cooling model {model!r}"):
            cooled = cool_model(
                self._session,
                (self._team.id, row.provider_id, model),
                now=now,
                reason=reason,
                delay=lambda failures: self._policy.delay(retry_after, failures),
            )
        notice = KeyNotice(
            team_id=row.team_id, provider_id=row.provider_id, model=model, action="cool_model"
        )
        notifications.send(self._session, notice)
        log.info("model %s cooling until %s: %s", model, _iso(cooled.cooldown_until), reason)
        return RecordedFailure(
            key_id=row.id,
            outcome=outcome,
            key_status=self._status(row),
            key_cooldown_until=row.cooldown_until,
            model_cooldown_until=cooled.cooldown_until,
        )

    def _model_row(self, provider_id: int, model: str) -> ModelCooldownRow | None:
        M = ModelCooldownRow
        query = select(M).where(M.team_id == self._team.id, M.provider_id == provider_id)
        return self._session.scalar(query.where(M.provider_model_id == model))

    def _model_cooling(
        self, provider_id: int, model: str, now: datetime
    ) -> ModelCooldownRow | None:
        row = self._model_row(provider_id, model)
        return row if row is not None and row.cooldown_until > now else None

    def _unavailable(
        self,
        provider: ProviderRow,
        now: datetime,
        exclude: Set[int],
        model: ModelCooldownRow | None,
    ) -> NoKeyAvailableError:
        keys = self._session.execute(
            select(K.id, K.status, K.cooldown_until).where(
                K.team_id == self._team.id, K.provider_id == provider.id
            )
        ).all()
        return explain_unavailable(
            [(k.id, k.status, k.cooldown_until) for k in keys],
            team=self._team.name,
            provider=provider.name,
            now=now,
            exclude=exclude,
            model=None if model is None else _model_cooldown(model, provider.name),
        )

    def _scrub(self, row: ProviderKeyRow, reason: str) -> str:
        if self._keyring is None:
            return scrub(reason)
        try:
            return scrub(reason, self._open(row), row.last4)
        except (MasterKeyNotInRingError, KeyDecryptionError):
            # Recording the failure matters more than scrubbing; the call used this very
            # key, so a ring that cannot open it is already reported by acquire.
            return scrub(reason)

    def _status(self, row: ProviderKeyRow) -> KeyStatus:
        return effective_status(row.status, row.cooldown_until, self._clock())


def _charged(outcome: KeyOutcome, now: datetime) -> dict[str, Any]:
    """Counter updates for a failure charged to the key (locks its row until commit).

    SET expressions read the row as it was, so a timeout extends the streak only when the
    key's previous failure was a timeout too.
    """
    values: dict[str, Any] = {
        "error_count": K.error_count + 1,
        "last_error_at": now,
        "last_error_class": outcome.value,
    }
    if outcome is KeyOutcome.RATE_LIMITED:
        values["consecutive_failures"] = K.consecutive_failures + 1
    elif outcome is KeyOutcome.TIMED_OUT:
        in_a_row = K.last_error_class == KeyOutcome.TIMED_OUT.value
        values["consecutive_failures"] = case(
            (in_a_row, K.consecutive_failures + 1), else_=literal(1)
        )
    return values


def _model_cooldown(row: ModelCooldownRow, provider: str) -> ModelCooldown:
    return ModelCooldown(
        provider=provider,
        model=row.provider_model_id,
        cooldown_until=row.cooldown_until,
        reason=row.reason,
        consecutive_failures=row.consecutive_failures,
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()

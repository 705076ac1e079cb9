"""Provider keys of one team as operators manage them: add, list, disable, enable, events.

Never commits: the caller owns `with session.begin():`.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from registry import notifications
from registry.domain import JsonObject, Team
from registry.errors import InvalidInputError, NotFoundError, translate_database_errors
from registry.keys.crypto import KeyBinding, MasterKeyring, SealedSecret, seal, unseal
from registry.keys.domain import KeyEvent, KeyEventKind, KeyStatus, ProviderKey
from registry.keys.errors import MasterKeyMissingError
from registry.keys.tables import KeyEventRow, ProviderKeyRow
from registry.keys.validation import check_label, check_secret, scrub
from registry.orm import utcnow
from registry.tables import ProviderRow

log = logging.getLogger("registry.keys")
Clock = Callable[[], datetime]
K = ProviderKeyRow


class KeyRepository:
    """Keys of one team; other teams' keys are invisible (every query filters on team_id)."""

    def __init__(
        self,
        session: Session,
        team: Team,
        keyring: MasterKeyring | None = None,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._session = session
        self._team = team
        self._keyring = keyring
        self._clock = clock

    def add(self, provider: str, label: str, secret: str, priority: int = 0) -> ProviderKey:
        """Store a new key sealed under the newest master key; `secret` is never stored as is."""
        ring = self._require_ring()
        label, secret = check_label(label), check_secret(secret, label=label)
        prov = self._provider(provider, for_new_key=True)
        if self._label_taken(prov.id, label):
            raise InvalidInputError(
                f"team {self._team.name!r} already has a key labelled {label!r} for {provider}; "
                "pick another label (`modelops keys list` shows the taken ones)",
                field="label",
            )
        row = K(
            team_id=self._team.id,
            provider_id=prov.id,
            label=label,
            last4=secret[-4:],
            priority=priority,
            status=KeyStatus.ACTIVE.value,
            created_at=self._clock(),
            **_placeholder_sealing(),
        )
        with translate_database_errors(f"adding key {label!r}"):
            self._session.add(row)
            self._session.flush()  # assigns the id the ciphertext is bound to
        _store_sealed(row, seal(secret, _binding(row), ring))
        self._event(row, KeyEventKind.ADDED, {"label": label, "priority": priority})
        self._session.flush()
        self._notify(row, "add")
        log.info("added %s key %d (%s …%s)", provider, row.id, label, row.last4)
        return self._view(row, prov.name)

    def list(self, provider: str | None = None) -> builtins.list[ProviderKey]:
        query = (
            select(K, ProviderRow.name)
            .join(ProviderRow, ProviderRow.id == K.provider_id)
            .where(K.team_id == self._team.id)
            .order_by(ProviderRow.name, K.priority.desc(), K.id)
        )
        if provider is not None:
            query = query.where(K.provider_id == self._provider(provider).id)
        return [self._view(row, name) for row, name in self._session.execute(query)]

    def get(self, key_id: int) -> ProviderKey:
        row = self._row(key_id)
        return self._view(row, self._provider_name(row))

    def disable(self, key_id: int, reason: str = "disabled by an operator") -> ProviderKey:
        """Take a key out of rotation until `enable`; recorded as a `disabled` event."""
        reason = scrub(reason) or "disabled by an operator"
        values: dict[str, Any] = {"status": KeyStatus.DISABLED.value, "disabled_reason": reason}
        row = self._update_key(key_id, values)
        self._event(row, KeyEventKind.DISABLED, {"reason": reason, "by": "operator"})
        self._notify(row, "disable")
        log.info("key %d (%s …%s) disabled: %s", row.id, row.label, row.last4, reason)
        return self._view(row, self._provider_name(row))

    def enable(self, key_id: int) -> ProviderKey:
        """Put a key back in rotation. A rate-limit cooldown still runs its course."""
        now = self._clock()
        cooling = K.cooldown_until.is_not(None) & (K.cooldown_until > now)
        values: dict[str, Any] = {
            "status": case((cooling, KeyStatus.COOLING.value), else_=KeyStatus.ACTIVE.value),
            "disabled_reason": None,
            "consecutive_failures": 0,
            "error_count": 0,
        }
        row = self._update_key(key_id, values)
        self._event(row, KeyEventKind.ENABLED, {"by": "operator"})
        self._notify(row, "enable")
        log.info("key %d (%s …%s) enabled", row.id, row.label, row.last4)
        return self._view(row, self._provider_name(row))

    def events(
        self, key_id: int | None = None, *, after_id: int = 0, limit: int = 1000
    ) -> builtins.list[KeyEvent]:
        """Key events in order; `after_id` lets a poller (alerts) read only what is new."""
        query = (
            select(KeyEventRow)
            .where(KeyEventRow.team_id == self._team.id, KeyEventRow.id > after_id)
            .order_by(KeyEventRow.id)
            .limit(limit)
        )
        if key_id is not None:
            query = query.where(KeyEventRow.key_id == key_id)
        return [
            KeyEvent(id=e.id, key_id=e.key_id, kind=KeyEventKind(e.kind), detail=e.detail, at=e.at)
            for e in self._session.scalars(query)
        ]

    # -- shared with the pool ---------------------------------------------------

    def _require_ring(self) -> MasterKeyring:
        if self._keyring is None:
            raise MasterKeyMissingError()
        return self._keyring

    def _provider(self, name: str, *, for_new_key: bool = False) -> ProviderRow:
        row = self._session.scalar(select(ProviderRow).where(ProviderRow.name == name))
        if row is not None and not (for_new_key and row.retired_at is not None):
            return row
        known = self._session.scalars(
            select(ProviderRow.name)
            .where(ProviderRow.retired_at.is_(None))
            .order_by(ProviderRow.name)
        ).all()
        hint = f"known providers: {', '.join(known)}" if known else "run `modelops catalog sync`"
        what = "is retired" if row is not None else "is not a known provider"
        raise NotFoundError(f"{scrub(name)!r} {what}; {hint}")  # a key typed by mistake

    def _provider_name(self, row: ProviderKeyRow) -> str:
        return self._session.scalars(
            select(ProviderRow.name).where(ProviderRow.id == row.provider_id)
        ).one()

    def _row(self, key_id: int, *, for_update: bool = False) -> ProviderKeyRow:
        query = select(K).where(K.id == key_id, K.team_id == self._team.id)
        row = self._session.scalar(query.with_for_update() if for_update else query)
        if row is None:
            raise self._missing(key_id)
        return row

    def _update_key(self, key_id: int, values: Mapping[str, Any]) -> ProviderKeyRow:
        """One atomic UPDATE … RETURNING on a key of this team (locks the row until commit)."""
        stmt = (
            update(K)
            .where(K.id == key_id, K.team_id == self._team.id)
            .values(**values)
            .returning(K)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        with translate_database_errors(f"updating key {key_id}"):
            row = self._session.scalars(stmt).one_or_none()
        if row is None:
            raise self._missing(key_id)
        return row

    def _missing(self, key_id: int) -> NotFoundError:
        return NotFoundError(
            f"no key {key_id} in team {self._team.name!r}; `modelops keys list` shows the ids"
        )

    def _event(self, row: ProviderKeyRow, kind: KeyEventKind, detail: JsonObject) -> None:
        # request_count orders events against acquisitions of the same key (both hold its lock).
        full: JsonObject = {**detail, "request_count": row.request_count}
        event = KeyEventRow(
            team_id=row.team_id, key_id=row.id, kind=kind.value, detail=full, at=self._clock()
        )
        self._session.add(event)

    def _notify(self, row: ProviderKeyRow, action: notifications.KeyAction) -> None:
        """Tell LISTENing key caches to re-read the key once this transaction commits."""
        notice = notifications.KeyNotice(
            team_id=row.team_id, provider_id=row.provider_id, key_id=row.id, action=action
        )
        notifications.send(self._session, notice)

    def _label_taken(self, provider_id: int, label: str) -> bool:
        query = select(K.id).where(
            K.team_id == self._team.id, K.provider_id == provider_id, K.label == label
        )
        return self._session.scalar(query) is not None

    def _open(self, row: ProviderKeyRow) -> str:
        """The plaintext secret; callers wrap it in SecretStr or use it to scrub text."""
        return unseal(_sealed(row), _binding(row), self._require_ring()).get_secret_value()

    def _view(self, row: ProviderKeyRow, provider: str) -> ProviderKey:
        return to_view(row, provider, self._clock())


def to_view(row: ProviderKeyRow, provider: str, now: datetime) -> ProviderKey:
    return ProviderKey(
        id=row.id,
        provider=provider,
        label=row.label,
        last4=row.last4,
        priority=row.priority,
        status=effective_status(row.status, row.cooldown_until, now),
        cooldown_until=row.cooldown_until,
        disabled_reason=row.disabled_reason,
        error_count=row.error_count,
        consecutive_failures=row.consecutive_failures,
        request_count=row.request_count,
        success_count=row.success_count,
        last_used_at=row.last_used_at,
        last_success_at=row.last_success_at,
        last_error_at=row.last_error_at,
        last_error_class=row.last_error_class,
        kek_version=row.kek_version,
        created_at=row.created_at,
    )


def effective_status(status: str, cooldown_until: datetime | None, now: datetime) -> KeyStatus:
    """A cooling key whose deadline has passed is usable again, so it reads as active."""
    if status == KeyStatus.DISABLED:
        return KeyStatus.DISABLED
    if cooldown_until is not None and cooldown_until > now:
        return KeyStatus.COOLING
    return KeyStatus.ACTIVE


def _binding(row: ProviderKeyRow) -> KeyBinding:
    return KeyBinding(team_id=row.team_id, provider_id=row.provider_id, key_id=row.id)


def _sealed(row: ProviderKeyRow) -> SealedSecret:
    return SealedSecret(
        ciphertext=row.ciphertext,
        nonce=row.nonce,
        wrapped_dek=row.wrapped_dek,
        dek_nonce=row.dek_nonce,
        kek_version=row.kek_version,
        kek_fingerprint=row.kek_fingerprint,
    )


def _store_sealed(row: ProviderKeyRow, sealed: SealedSecret) -> None:
    row.ciphertext, row.nonce = sealed.ciphertext, sealed.nonce
    row.wrapped_dek, row.dek_nonce = sealed.wrapped_dek, sealed.dek_nonce
    row.kek_version, row.kek_fingerprint = sealed.kek_version, sealed.kek_fingerprint


def _placeholder_sealing() -> dict[str, Any]:
    # The ciphertext is bound to the row id, which exists only after the INSERT; the row is
    # sealed before the transaction can commit, so nobody ever sees these empty values.
    return {
        "ciphertext": b"",
        "nonce": b"",
        "wrapped_dek": b"",
        "dek_nonce": b"",
        "kek_version": "",
        "kek_fingerprint": "",
    }

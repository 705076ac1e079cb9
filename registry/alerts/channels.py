"""Notification channels of one team: add (the secret sealed under the master key, as
provider keys are), list, disable (a 410 from the receiver does it), enable, open the
secret for a delivery, and re-wrap every secret onto the newest master key."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.alerts.channel_spec import NewChannel, send_resolved, target_of
from registry.alerts.domain import (
    Channel,
    ChannelKind,
    ChannelStatus,
    NotificationStatus,
    Severity,
)
from registry.alerts.tables import ChannelRow, NotificationRow
from registry.catalog_fields import did_you_mean
from registry.domain import Frozen, Team
from registry.errors import (
    InvalidInputError,
    NotFoundError,
    RegistryError,
    translate_database_errors,
)
from registry.keys.crypto import MasterKeyring, SealedSecret, rewrap, seal, unseal
from registry.keys.errors import MasterKeyMissingError
from registry.orm import utcnow

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ChannelBinding:
    """Ties a channel's ciphertext to its row and team (AES-GCM associated data)."""

    team_id: int
    channel_id: int

    @property
    def key_id(self) -> int:
        return self.channel_id

    def secret_aad(self) -> bytes:
        return f"modelops/alert-channel/v1|team={self.team_id}|channel={self.channel_id}".encode()

    def dek_aad(self) -> bytes:
        return (
            f"modelops/alert-channel-dek/v1|team={self.team_id}|channel={self.channel_id}".encode()
        )


class ChannelRepository:
    """Channels of one team; another team's are invisible (every query filters on team_id)."""

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

    def add(self, new: NewChannel) -> Channel:
        target, shown, secret = target_of(new)
        if self._find(new.name) is not None:
            raise InvalidInputError(
                f"team {self._team.name!r} already has a channel named {new.name!r}",
                field="name",
            )
        ring = self._require_ring()
        row = ChannelRow(
            team_id=self._team.id,
            name=new.name,
            kind=new.kind.value,
            url=shown,
            events=new.events,
            severities=[severity.value for severity in new.severities],
            level=new.level,
            send_resolved=send_resolved(new),
            repeat_interval_seconds=new.repeat_interval_seconds,
            status=ChannelStatus.ACTIVE.value,
            created_at=self._clock(),
            **_placeholder_sealing(),
        )
        with translate_database_errors(f"adding channel {new.name!r}"):
            self._session.add(row)
            self._session.flush()  # the ciphertext is bound to the row id
        _store_sealed(row, seal(_sealed_form(target, secret), binding_of(row), ring))
        self._session.flush()
        return channel_view(row)

    def list(self) -> builtins.list[Channel]:
        query = select(ChannelRow).where(ChannelRow.team_id == self._team.id)
        return [channel_view(row) for row in self._session.scalars(query.order_by(ChannelRow.name))]

    def get(self, name: str) -> Channel:
        return channel_view(self.row(name))

    def row(self, name: str) -> ChannelRow:
        row = self._find(name)
        if row is None:
            known = [channel.name for channel in self.list()]
            listed = ", ".join(known) if known else "none (add one with `modelops channels add`)"
            raise NotFoundError(
                f"no channel {name!r} in team {self._team.name!r}{did_you_mean(name, known)}; "
                f"channels: {listed}"
            )
        return row

    def enable(self, name: str) -> Channel:
        row = self.row(name)
        row.status, row.disabled_reason, row.disabled_at = ChannelStatus.ACTIVE.value, None, None
        self._session.flush()
        return channel_view(row)

    def disable(self, name: str, reason: str) -> Channel:
        row = self.row(name)
        disable_channel(self._session, row.id, reason, self._clock())
        self._session.refresh(row)
        return channel_view(row)

    def _find(self, name: str) -> ChannelRow | None:
        return self._session.scalar(
            select(ChannelRow).where(ChannelRow.team_id == self._team.id, ChannelRow.name == name)
        )

    def _require_ring(self) -> MasterKeyring:
        if self._keyring is None:
            raise MasterKeyMissingError()
        return self._keyring


def disable_channel(session: Session, channel_id: int, reason: str, now: datetime) -> None:
    """Stop a channel, keeping why; what it still had to send is skipped, not lost silently."""
    session.execute(
        update(ChannelRow)
        .where(ChannelRow.id == channel_id)
        .values(status=ChannelStatus.DISABLED.value, disabled_reason=reason, disabled_at=now)
    )
    waiting = (NotificationStatus.PENDING.value, NotificationStatus.SENDING.value)
    session.execute(
        update(NotificationRow)
        .where(NotificationRow.channel_id == channel_id, NotificationRow.status.in_(waiting))
        .values(
            status=NotificationStatus.SKIPPED.value,
            last_error=f"not sent: the channel was disabled ({reason})",
        )
        .execution_options(synchronize_session=False)
    )


def open_target(row: ChannelRow, ring: MasterKeyring) -> tuple[str, SecretStr]:
    """The URL a delivery posts to and the secret it signs or authenticates with."""
    sealed = unseal(sealed_of(row), binding_of(row), ring).get_secret_value()
    if row.kind == ChannelKind.SLACK:
        return sealed, SecretStr(sealed)
    url, _, secret = sealed.partition("\n")
    return url, SecretStr(secret)


def _sealed_form(url: str, secret: str) -> str:
    # Slack: the URL is the secret. Others: the URL rides along, so it cannot be swapped.
    return secret if url == secret else f"{url}\n{secret}"


def channel_view(row: ChannelRow) -> Channel:
    return Channel(
        id=row.id,
        name=row.name,
        kind=ChannelKind(row.kind),
        url=row.url,
        events=list(row.events),
        severities=[Severity(value) for value in row.severities],
        level=row.level,
        send_resolved=row.send_resolved,
        repeat_interval_seconds=row.repeat_interval_seconds,
        status=ChannelStatus(row.status),
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        kek_version=row.kek_version,
        created_at=row.created_at,
    )


def binding_of(row: ChannelRow) -> ChannelBinding:
    return ChannelBinding(team_id=row.team_id, channel_id=row.id)


def sealed_of(row: ChannelRow) -> SealedSecret:
    return SealedSecret(
        ciphertext=row.ciphertext,
        nonce=row.nonce,
        wrapped_dek=row.wrapped_dek,
        dek_nonce=row.dek_nonce,
        kek_version=row.kek_version,
        kek_fingerprint=row.kek_fingerprint,
    )


def _store_sealed(row: ChannelRow, sealed: SealedSecret) -> None:
    row.ciphertext, row.nonce = sealed.ciphertext, sealed.nonce
    row.wrapped_dek, row.dek_nonce = sealed.wrapped_dek, sealed.dek_nonce
    row.kek_version, row.kek_fingerprint = sealed.kek_version, sealed.kek_fingerprint


def _placeholder_sealing() -> dict[str, bytes | str]:
    # Sealed right after the INSERT assigns the id, inside the same transaction.
    return {
        "ciphertext": b"",
        "nonce": b"",
        "wrapped_dek": b"",
        "dek_nonce": b"",
        "kek_version": "",
        "kek_fingerprint": "",
    }


class ChannelRewrap(Frozen):
    rewrapped: int
    already_current: int
    unreadable: list[str]  # "team id / name: problem"; such channels must be added again


def rewrap_channels(session: Session, ring: MasterKeyring) -> ChannelRewrap:
    """Move every channel's data key onto the newest master (all teams); the secret's
    ciphertext is untouched. Safe to run again."""
    newest = ring.newest.fingerprint
    rows = session.scalars(select(ChannelRow).order_by(ChannelRow.id)).all()
    rewrapped, unreadable = 0, []
    for row in rows:
        if row.kek_fingerprint == newest:
            continue
        try:
            sealed = rewrap(sealed_of(row), binding_of(row), ring)
        except RegistryError as exc:
            unreadable.append(f"team {row.team_id} / {row.name}: {exc}")
            continue
        moved = session.execute(
            update(ChannelRow)
            .where(ChannelRow.id == row.id, ChannelRow.kek_fingerprint == row.kek_fingerprint)
            .values(
                wrapped_dek=sealed.wrapped_dek,
                dek_nonce=sealed.dek_nonce,
                kek_version=sealed.kek_version,
                kek_fingerprint=sealed.kek_fingerprint,
            )
            .returning(ChannelRow.id)
            .execution_options(synchronize_session=False)
        ).first()
        rewrapped += moved is not None
    current = sum(1 for row in rows if row.kek_fingerprint == newest)
    return ChannelRewrap(rewrapped=rewrapped, already_current=current, unreadable=unreadable)

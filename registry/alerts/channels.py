"""Notification channels of one team: add (the secret sealed under the master key), list,
disable (a 410 from the receiver does it), enable, and open the secret for a delivery.

The secret is a Standard Webhooks signing secret (`whsec_…`), a Slack-compatible incoming
webhook URL (whose path is the credential), or a PagerDuty routing key. It is never echoed.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, field_validator
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.alerts.domain import (
    ALERT_EVENT_TYPES,
    EVENT_TYPES,
    Channel,
    ChannelKind,
    ChannelStatus,
    NotificationStatus,
    Severity,
    matches,
)
from registry.alerts.tables import ChannelRow, NotificationRow
from registry.catalog_spec import did_you_mean
from registry.domain import Frozen, Team
from registry.errors import InvalidInputError, NotFoundError, translate_database_errors
from registry.keys.crypto import MasterKeyring, SealedSecret, seal, unseal
from registry.keys.errors import MasterKeyMissingError
from registry.orm import utcnow

Clock = Callable[[], datetime]
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
DEFAULT_REPEAT_SECONDS = 4 * 3600  # Alertmanager's repeat_interval
MAX_LEVEL = 5
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_ROUTING_KEY = re.compile(r"[A-Za-z0-9]{32}")


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


def check_url(value: str, *, what: str = "url", secret: bool = False) -> str:
    """An http(s) URL with a host and no credentials; a secret URL is never echoed."""
    shown = "the URL given" if secret else repr(value)
    problem = f"{what}: {shown} is not an http(s) URL such as https://hooks.example.com/alerts"
    try:
        parts = urlsplit(value)
    except ValueError:
        raise InvalidInputError(problem, field=what) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", value):
        raise InvalidInputError(problem, field=what)
    if parts.username or parts.password:
        raise InvalidInputError(f"{what}: a URL must not carry a user or password", field=what)
    if len(value) > 512:
        raise InvalidInputError(f"{what}: at most 512 characters", field=what)
    return value


def _events(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        if not any(matches([pattern], kind) for kind in EVENT_TYPES):
            hint = did_you_mean(pattern, EVENT_TYPES)
            raise ValueError(
                f"{pattern!r} matches no event{hint}; events: {', '.join(EVENT_TYPES)} "
                "(or a pattern such as alert.* or *)"
            )
    return sorted(set(patterns))


class NewChannel(Frozen):
    """A channel to add; `secret` comes from stdin, never from arguments."""

    name: Annotated[str, Field(max_length=64)]
    kind: ChannelKind
    url: str | None = None
    secret: SecretStr
    events: Annotated[list[str], AfterValidator(_events)] = Field(
        default_factory=lambda: ["alert.*"], min_length=1, max_length=32
    )
    severities: list[Severity] = Field(default_factory=lambda: list(Severity), min_length=1)
    level: int = Field(default=1, ge=1, le=MAX_LEVEL)
    send_resolved: bool | None = None  # None: Alertmanager's default for the kind
    repeat_interval_seconds: int = Field(default=DEFAULT_REPEAT_SECONDS, ge=0, le=7 * 86_400)

    @field_validator("name")
    @classmethod
    def _name_rule(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not allowed: use lowercase letters, digits and '-', starting "
                "with a letter or digit"
            )
        return name

    @field_validator("repeat_interval_seconds")
    @classmethod
    def _whole_minutes(cls, seconds: int) -> int:
        if seconds % 60:
            raise ValueError("repeat interval must be whole minutes, or 0 for never")
        return seconds


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


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
        target, shown, secret = _target_of(new)
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
            send_resolved=_send_resolved(new),
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


def check_url_option(kind: ChannelKind, url: str | None) -> None:
    """A Slack URL given as an option: refused before any secret is read."""
    if kind is ChannelKind.SLACK and url is not None:
        raise InvalidInputError(
            "url: a Slack-compatible webhook URL is itself the credential: give it on "
            "stdin, not as --url",
            field="url",
        )


def _target_of(new: NewChannel) -> tuple[str, str, str]:
    """(URL posted to, URL shown, secret) after checking both for the channel's kind."""
    secret = new.secret.get_secret_value().strip()
    check_url_option(new.kind, new.url)
    if new.kind is ChannelKind.SLACK:
        url = check_url(secret, what="secret", secret=True)
        parts = urlsplit(url)
        return url, f"{parts.scheme}://{parts.netloc}/…", url
    if new.kind is ChannelKind.PAGERDUTY:
        url = check_url(new.url or PAGERDUTY_EVENTS_URL)
        if not _ROUTING_KEY.fullmatch(secret):
            raise InvalidInputError(
                "secret: a PagerDuty routing key is 32 letters and digits (the Events API v2 "
                "integration key); the value read from stdin is not one",
                field="secret",
            )
        if any(not event.startswith("alert.") and event != "*" for event in new.events):
            raise InvalidInputError(
                "events: PagerDuty channels take alert events only: "
                + ", ".join(ALERT_EVENT_TYPES),
                field="events",
            )
        return url, url, secret
    if new.url is None:
        raise InvalidInputError("url: a webhook channel needs --url", field="url")
    url = check_url(new.url)
    _check_webhook_secret(secret)
    return url, url, secret


def _check_webhook_secret(secret: str) -> None:
    problem = (
        "secret: a Standard Webhooks secret is whsec_ followed by base64 of 24 to 64 random "
        "bytes; the value read from stdin is not one (or use --generate-secret)"
    )
    if not secret.startswith("whsec_"):
        raise InvalidInputError(problem, field="secret")
    try:
        raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(problem, field="secret") from None
    if not 24 <= len(raw) <= 64:
        raise InvalidInputError(problem, field="secret")


def _sealed_form(url: str, secret: str) -> str:
    # Slack: the URL is the secret. Others: the URL rides along, so it cannot be swapped.
    return secret if url == secret else f"{url}\n{secret}"


def _send_resolved(new: NewChannel) -> bool:
    if new.send_resolved is not None:
        return new.send_resolved
    return new.kind is not ChannelKind.SLACK  # Alertmanager's slack_configs default


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

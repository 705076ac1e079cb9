"""Webhook secrets of a team, sealed like provider keys (AES-GCM under a master-wrapped data
key, bound to their row): the secrets providers sign their webhooks with, and the secrets
we sign callback notices with. Several may be live at once so a secret rotates with overlap.
Never commits."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from adapters.webhooks import new_webhook_secret
from registry.domain import Team
from registry.errors import InvalidInputError, NotFoundError, translate_database_errors
from registry.generation.domain import SecretPurpose, WebhookSecretInfo
from registry.generation.tables import WebhookSecretRow
from registry.keys.crypto import MasterKeyring, SealedSecret, seal, unseal
from registry.orm import utcnow
from registry.text import check_single_line

S = WebhookSecretRow
MAX_SECRET_CHARS = 512
MAX_LABEL_CHARS = 64


@dataclass(frozen=True)
class WebhookSecretBinding:
    """Ties a webhook secret's ciphertext to its row, team and purpose (associated data)."""

    team_id: int
    secret_id: int
    purpose: str

    @property
    def key_id(self) -> int:
        return self.secret_id

    def secret_aad(self) -> bytes:
        return (
            f"modelops/webhook-secret/v1|team={self.team_id}|purpose={self.purpose}"
            f"|secret={self.secret_id}"
        ).encode()

    def dek_aad(self) -> bytes:
        return f"modelops/webhook-dek/v1|team={self.team_id}|secret={self.secret_id}".encode()


def endpoint_scope(endpoint_id: int) -> str:
    return f"endpoint:{endpoint_id}"


class WebhookSecretRepository:
    def __init__(self, session: Session, team: Team, ring: MasterKeyring) -> None:
        self._session = session
        self._team = team
        self._ring = ring

    def add_provider_secret(self, provider: str, label: str, secret: str) -> WebhookSecretInfo:
        """Store the secret `provider` signs this team's webhooks with (read from stdin)."""
        if not secret or len(secret) > MAX_SECRET_CHARS or not secret.isprintable():
            raise InvalidInputError(
                f"the webhook secret must be 1-{MAX_SECRET_CHARS} printable characters",
                field="secret",
            )
        return self._add(SecretPurpose.PROVIDER, provider, label, secret)

    def new_callback_secret(
        self, label: str, *, endpoint_id: int | None = None
    ) -> tuple[WebhookSecretInfo, SecretStr]:
        """A fresh `whsec_` secret to sign callbacks with (the team's, or one endpoint's);
        returned once, to be handed to whoever verifies the callbacks."""
        secret = new_webhook_secret()
        scope = "" if endpoint_id is None else endpoint_scope(endpoint_id)
        return self._add(SecretPurpose.CALLBACK, scope, label, secret), SecretStr(secret)

    def retire(
        self, secret_id: int, *, after_seconds: float = 0.0, now: datetime | None = None
    ) -> WebhookSecretInfo:
        """End a secret's life `after_seconds` from now: the overlap of a rotation."""
        row = self._row(secret_id)
        row.expires_at = (now or utcnow()) + timedelta(seconds=after_seconds)
        self._session.flush()
        return _info(row)

    def list(self) -> builtins.list[WebhookSecretInfo]:
        rows = self._session.scalars(select(S).where(S.team_id == self._team.id).order_by(S.id))
        return [_info(row) for row in rows]

    def provider_secrets(self, provider: str, *, now: datetime) -> builtins.list[SecretStr]:
        rows = self._session.scalars(
            _live(SecretPurpose.PROVIDER, now).where(
                S.team_id == self._team.id, S.scope == provider
            )
        )
        return [self._open(row) for row in rows]

    def callback_secrets(self, endpoint_id: int, *, now: datetime) -> builtins.list[SecretStr]:
        """The endpoint's live callback secrets, else the team's; newest first."""
        rows = self._session.scalars(
            _live(SecretPurpose.CALLBACK, now).where(
                S.team_id == self._team.id, S.scope.in_(("", endpoint_scope(endpoint_id)))
            )
        ).all()
        own = [row for row in rows if row.scope] or list(rows)
        return [self._open(row) for row in sorted(own, key=lambda r: r.id, reverse=True)]

    def _add(
        self, purpose: SecretPurpose, scope: str, label: str, secret: str
    ) -> WebhookSecretInfo:
        label = _label(label)
        placeholder = b"\x00"
        row = S(
            team_id=self._team.id,
            purpose=purpose.value,
            scope=scope,
            label=label,
            ciphertext=placeholder,
            nonce=placeholder,
            wrapped_dek=placeholder,
            dek_nonce=placeholder,
            kek_version="",
            kek_fingerprint="",
        )
        with translate_database_errors(f"adding webhook secret {label!r}"):
            self._session.add(row)
            self._session.flush()  # the id is part of the associated data
        sealed = seal(secret, binding_of(row), self._ring)
        _store(row, sealed)
        self._session.flush()
        return _info(row)

    def _open(self, row: WebhookSecretRow) -> SecretStr:
        return unseal(sealed_of(row), binding_of(row), self._ring)

    def _row(self, secret_id: int) -> WebhookSecretRow:
        row = self._session.scalar(select(S).where(S.id == secret_id, S.team_id == self._team.id))
        if row is None:
            raise NotFoundError(f"no webhook secret {secret_id} in team {self._team.name!r}")
        return row


def provider_secrets_by_team(
    session: Session, ring: MasterKeyring, provider: str, *, now: datetime
) -> dict[int, builtins.list[SecretStr]]:
    """Every team's live secrets for `provider`: a webhook is verified before anything in it
    (its job, its team) is trusted, so the candidates are all of them."""
    rows = session.scalars(_live(SecretPurpose.PROVIDER, now).where(S.scope == provider))
    found: dict[int, builtins.list[SecretStr]] = {}
    for row in rows:
        found.setdefault(row.team_id, []).append(unseal(sealed_of(row), binding_of(row), ring))
    return found


def _live(purpose: SecretPurpose, now: datetime) -> Select[tuple[WebhookSecretRow]]:
    return (
        select(S)
        .where(
            S.purpose == purpose.value,
            S.revoked_at.is_(None),
            or_(S.expires_at.is_(None), S.expires_at > now),
        )
        .order_by(S.id)
    )


def _label(label: str) -> str:
    label = label.strip()
    if not label or len(label) > MAX_LABEL_CHARS:
        raise InvalidInputError(f"label must be 1-{MAX_LABEL_CHARS} characters", field="label")
    try:
        return check_single_line(label)
    except ValueError as exc:
        raise InvalidInputError(f"label {exc}", field="label") from None


def binding_of(row: WebhookSecretRow) -> WebhookSecretBinding:
    return WebhookSecretBinding(team_id=row.team_id, secret_id=row.id, purpose=row.purpose)


def sealed_of(row: WebhookSecretRow) -> SealedSecret:
    return SealedSecret(
        ciphertext=row.ciphertext,
        nonce=row.nonce,
        wrapped_dek=row.wrapped_dek,
        dek_nonce=row.dek_nonce,
        kek_version=row.kek_version,
        kek_fingerprint=row.kek_fingerprint,
    )


def _store(row: WebhookSecretRow, sealed: SealedSecret) -> None:
    row.ciphertext = sealed.ciphertext
    row.nonce = sealed.nonce
    row.wrapped_dek = sealed.wrapped_dek
    row.dek_nonce = sealed.dek_nonce
    row.kek_version = sealed.kek_version
    row.kek_fingerprint = sealed.kek_fingerprint


def _info(row: WebhookSecretRow) -> WebhookSecretInfo:
    return WebhookSecretInfo(
        id=row.id,
        purpose=SecretPurpose(row.purpose),
        scope=row.scope,
        label=row.label,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


__all__ = [
    "WebhookSecretBinding",
    "WebhookSecretRepository",
    "binding_of",
    "endpoint_scope",
    "provider_secrets_by_team",
    "sealed_of",
]

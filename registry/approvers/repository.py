"""Approvers of one team: enrol (a TOTP secret sealed under the master key), and prove a
reviewer's identity with a one-time code that is accepted once.

Never commits: the caller owns the transaction.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.approvers import totp
from registry.approvers.tables import ApproverCodeUseRow, ApproverEnrolmentRow
from registry.domain import Frozen, Team
from registry.errors import ConflictError, InvalidInputError, translate_database_errors
from registry.keys.crypto import MasterKeyring, SealedSecret, seal, unseal
from registry.keys.errors import KeyDecryptionError, MasterKeyMissingError
from registry.orm import utcnow

Clock = Callable[[], datetime]
E = ApproverEnrolmentRow
MAX_NAME_CHARS = 128


class Enrolment(Frozen):
    id: int
    name: str
    enrolled_at: datetime
    replaced_at: datetime | None
    kek_version: str


class NewEnrolment(Frozen):
    """What enrolling hands back once: the secret and its otpauth URI are shown, never stored."""

    enrolment: Enrolment
    secret: SecretStr
    uri: SecretStr
    replaced: int | None


class Proof(Frozen):
    """A code checked against a reviewer's enrolment: `refusal` None means proven."""

    enrolment_id: int | None
    refusal: str | None


@dataclass(frozen=True)
class ApproverBinding:
    """Ties an enrolment's ciphertext to its row and team (AES-GCM associated data)."""

    team_id: int
    enrolment_id: int

    @property
    def key_id(self) -> int:
        return self.enrolment_id

    def secret_aad(self) -> bytes:
        return (
            f"modelops/approver-totp/v1|team={self.team_id}|enrolment={self.enrolment_id}".encode()
        )

    def dek_aad(self) -> bytes:
        return (
            f"modelops/approver-dek/v1|team={self.team_id}|enrolment={self.enrolment_id}".encode()
        )


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise InvalidInputError(
            f"approver name must be 1 to {MAX_NAME_CHARS} printable characters", field="name"
        )
    return name


class ApproverRepository:
    """Enrolments of one team; other teams' are invisible (every query filters on team_id)."""

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

    def enroll(self, name: str, *, replace: bool = False) -> NewEnrolment:
        """A new secret for `name`; an existing enrolment is replaced only if asked."""
        name, ring = check_name(name), self._require_ring()
        current = self._live(name, for_update=True)
        if current is not None and not replace:
            raise InvalidInputError(
                f"{name!r} is already enrolled (since {current.enrolled_at:%Y-%m-%d %H:%M} UTC); "
                "pass --replace to issue a new secret, which invalidates the old one",
                field="name",
            )
        now = self._clock()
        if current is not None:
            current.replaced_at = now
            self._session.flush()  # frees the one-live-enrolment index for the new row
        secret = totp.new_secret()
        row = E(team_id=self._team.id, name=name, enrolled_at=now, **_placeholder_sealing())
        with translate_database_errors(f"enrolling {name!r}"):
            self._session.add(row)
            self._session.flush()  # the ciphertext is bound to the row id
        _store_sealed(row, seal(secret, binding_of(row), ring))
        self._session.flush()
        uri = totp.provisioning_uri(secret, team=self._team.name, name=name)
        return NewEnrolment(
            enrolment=_view(row),
            secret=SecretStr(secret),
            uri=SecretStr(uri),
            replaced=current.id if current is not None else None,
        )

    def list(self, *, include_replaced: bool = False) -> builtins.list[Enrolment]:
        query = select(E).where(E.team_id == self._team.id)
        if not include_replaced:
            query = query.where(E.replaced_at.is_(None))
        return [_view(row) for row in self._session.scalars(query.order_by(E.name, E.id))]

    def enrolled(self, name: str) -> bool:
        return self._live(name) is not None

    def prove(self, name: str, code: str, *, approval_id: int | None = None) -> Proof:
        """Check `code` as `name`'s current code and use it up; a used step never counts again.

        The enrolment row is locked, so two answers with one code cannot both pass; the
        unique (enrolment, step) row backs that up on backends without row locks.
        """
        row = self._live(name, for_update=True)
        if row is None:
            return Proof(enrolment_id=None, refusal=f"{name!r} is not enrolled as an approver")
        now = self._clock()
        step = totp.matching_step(self._secret(row), code, now.timestamp())
        if step is None:
            return Proof(enrolment_id=row.id, refusal=f"wrong or out-of-date code for {name!r}")
        last_used = self._session.scalar(
            select(func.max(ApproverCodeUseRow.time_step)).where(
                ApproverCodeUseRow.enrolment_id == row.id
            )
        )
        if last_used is not None and step <= last_used:
            return Proof(
                enrolment_id=row.id,
                refusal=f"that code of {name!r} was already used; wait for the next one",
            )
        use = ApproverCodeUseRow(
            enrolment_id=row.id, time_step=step, approval_id=approval_id, used_at=now
        )
        try:
            # A savepoint: losing the race must not spoil the caller's transaction.
            with (
                translate_database_errors(f"using a code of {name!r}"),
                self._session.begin_nested(),
            ):
                self._session.add(use)
        except ConflictError:
            return Proof(enrolment_id=row.id, refusal=f"that code of {name!r} was already used")
        return Proof(enrolment_id=row.id, refusal=None)

    def _live(self, name: str, *, for_update: bool = False) -> ApproverEnrolmentRow | None:
        query = select(E).where(E.team_id == self._team.id, E.name == name, E.replaced_at.is_(None))
        return self._session.scalar(query.with_for_update() if for_update else query)

    def _secret(self, row: ApproverEnrolmentRow) -> str:
        try:
            return unseal(sealed_of(row), binding_of(row), self._require_ring()).get_secret_value()
        except KeyDecryptionError:
            raise KeyDecryptionError(
                f"approver {row.name!r}: the enrolled secret does not authenticate (the row was "
                "altered or copied); re-enrol with `modelops approvers enroll NAME --replace`"
            ) from None

    def _require_ring(self) -> MasterKeyring:
        if self._keyring is None:
            raise MasterKeyMissingError()
        return self._keyring


def _view(row: ApproverEnrolmentRow) -> Enrolment:
    return Enrolment(
        id=row.id,
        name=row.name,
        enrolled_at=row.enrolled_at,
        replaced_at=row.replaced_at,
        kek_version=row.kek_version,
    )


def binding_of(row: ApproverEnrolmentRow) -> ApproverBinding:
    return ApproverBinding(team_id=row.team_id, enrolment_id=row.id)


def sealed_of(row: ApproverEnrolmentRow) -> SealedSecret:
    return SealedSecret(
        ciphertext=row.ciphertext,
        nonce=row.nonce,
        wrapped_dek=row.wrapped_dek,
        dek_nonce=row.dek_nonce,
        kek_version=row.kek_version,
        kek_fingerprint=row.kek_fingerprint,
    )


def _store_sealed(row: ApproverEnrolmentRow, sealed: SealedSecret) -> None:
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

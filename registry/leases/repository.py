"""Lease a provider key to a consumer: the pool picks it (stamping its use), and the lease
is recorded in the same transaction, so every key that left the gateway is accounted for."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.errors import translate_database_errors
from registry.keys import KeyPool, MasterKeyring
from registry.leases.tables import KeyLeaseRow
from registry.orm import utcnow


@dataclass(frozen=True)
class KeyLease:
    """A leased key; `secret` is for the consumer only (its repr is masked)."""

    lease_id: int
    key_id: int
    label: str
    last4: str
    secret: SecretStr


@dataclass(frozen=True)
class LeaseFor:
    """Who takes the key, and for which request."""

    token_id: int
    endpoint_id: int
    model_version_id: int
    request_id: str


def lease_key(
    session: Session,
    team: Team,
    keyring: MasterKeyring | None,
    provider: str,
    model: str,
    lease: LeaseFor,
) -> KeyLease:
    """The pool's best free key for `model`, recorded as leased. Never commits; raises
    NoKeyAvailableError (with `first_free_at`) like `KeyPool.acquire`."""
    leased = KeyPool(session, team, keyring).acquire(provider, model=model)
    row = KeyLeaseRow(
        team_id=team.id,
        key_id=leased.key_id,
        token_id=lease.token_id,
        endpoint_id=lease.endpoint_id,
        model_version_id=lease.model_version_id,
        request_id=lease.request_id,
        leased_at=utcnow(),
    )
    with translate_database_errors("recording a key lease"):
        session.add(row)
        session.flush()
    return KeyLease(row.id, leased.key_id, leased.label, leased.last4, leased.credential)

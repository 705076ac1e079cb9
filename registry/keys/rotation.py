"""Master-key rotation: re-wrap every data key onto the newest master, in resumable batches.

Only wrapped DEKs change; the secrets' ciphertexts are never re-encrypted nor decrypted.
Each row is updated with a compare-and-set on the master fingerprint it was read with, and
each batch commits on its own, so a crash leaves a consistent mix of old and new wraps
(both readable while both masters are configured) and running again picks up the rest.
The master key is global, so rotation and verification cover every team.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Row, Select, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from registry import notifications
from registry.domain import Frozen
from registry.errors import RegistryError, translate_database_errors
from registry.keys.crypto import KeyBinding, MasterKeyring, SealedSecret, check, rewrap
from registry.keys.domain import KeyEventKind
from registry.keys.tables import KeyEventRow, ProviderKeyRow
from registry.orm import utcnow
from registry.tables import ProviderRow, TeamRow

K = ProviderKeyRow
DEFAULT_BATCH = 100


class UnreadableKey(Frozen):
    key_id: int
    team: str
    provider: str
    label: str
    last4: str
    kek_version: str
    problem: str


class BatchResult(Frozen):
    last_id: int
    scanned: int
    rewrapped: int
    raced: int  # another process re-wrapped (or changed) the row first
    unreadable: list[UnreadableKey]


class RotationReport(Frozen):
    target_version: str
    target_fingerprint: str
    total: int
    rewrapped: int
    already_current: int
    raced: int
    remaining: int  # not on the newest master after this run (the unreadable ones, or new races)
    batches: int
    unreadable: list[UnreadableKey]


def rewrap_batch(
    session: Session, ring: MasterKeyring, *, after_id: int, limit: int
) -> BatchResult:
    """Re-wrap up to `limit` keys with id > `after_id` not yet on the newest master."""
    newest = ring.newest
    rows = session.execute(
        _key_rows().where(K.kek_fingerprint != newest.fingerprint, K.id > after_id).limit(limit)
    ).all()
    rewrapped = raced = 0
    unreadable: list[UnreadableKey] = []
    for row in rows:
        try:
            sealed = rewrap(_sealed(row), _binding(row), ring)
        except RegistryError as exc:
            unreadable.append(_unreadable(row, exc))
            continue
        if _compare_and_set(session, row, sealed):
            rewrapped += 1
        else:
            raced += 1
    last_id = rows[-1].id if rows else after_id
    return BatchResult(
        last_id=last_id, scanned=len(rows), rewrapped=rewrapped, raced=raced, unreadable=unreadable
    )


def rotate_master(
    sessions: sessionmaker[Session],
    ring: MasterKeyring,
    *,
    batch_size: int = DEFAULT_BATCH,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> RotationReport:
    """Run `rewrap_batch` until every readable key is on the newest master; one transaction
    per batch. `on_batch` is called after each batch commits (progress, tests)."""
    after_id = batches = rewrapped = raced = 0
    unreadable: list[UnreadableKey] = []
    while True:
        with sessions() as session, session.begin(), translate_database_errors("re-wrapping keys"):
            batch = rewrap_batch(session, ring, after_id=after_id, limit=batch_size)
        if batch.scanned == 0:
            break
        batches += 1
        rewrapped, raced = rewrapped + batch.rewrapped, raced + batch.raced
        unreadable.extend(batch.unreadable)
        after_id = batch.last_id
        if on_batch is not None:
            on_batch(batch)
    with sessions() as session:
        total, on_newest = _counts(session, ring.newest.fingerprint)
    return RotationReport(
        target_version=ring.newest.version,
        target_fingerprint=ring.newest.fingerprint,
        total=total,
        rewrapped=rewrapped,
        already_current=on_newest - rewrapped,
        raced=raced,
        remaining=total - on_newest,
        batches=batches,
        unreadable=unreadable,
    )


def verify_keys(session: Session, ring: MasterKeyring) -> tuple[int, list[UnreadableKey]]:
    """Open every key with the ring (secrets are discarded at once): (checked, unreadable)."""
    rows = session.execute(_key_rows()).all()
    unreadable: list[UnreadableKey] = []
    for row in rows:
        try:
            check(_sealed(row), _binding(row), ring)
        except RegistryError as exc:
            unreadable.append(_unreadable(row, exc))
    return len(rows), unreadable


def _key_rows() -> Select[Any]:
    return (
        select(
            K.id,
            K.team_id,
            K.provider_id,
            K.label,
            K.last4,
            K.ciphertext,
            K.nonce,
            K.wrapped_dek,
            K.dek_nonce,
            K.kek_version,
            K.kek_fingerprint,
            TeamRow.name.label("team"),
            ProviderRow.name.label("provider"),
        )
        .join(TeamRow, TeamRow.id == K.team_id)
        .join(ProviderRow, ProviderRow.id == K.provider_id)
        .order_by(K.id)
    )


def _compare_and_set(session: Session, row: Row[Any], sealed: SealedSecret) -> bool:
    moved = session.scalar(
        update(K)
        .where(K.id == row.id, K.kek_fingerprint == row.kek_fingerprint)
        .values(
            wrapped_dek=sealed.wrapped_dek,
            dek_nonce=sealed.dek_nonce,
            kek_version=sealed.kek_version,
            kek_fingerprint=sealed.kek_fingerprint,
        )
        .returning(K.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    detail = {"from": row.kek_version, "to": sealed.kek_version}
    session.add(
        KeyEventRow(
            team_id=row.team_id,
            key_id=row.id,
            kind=KeyEventKind.REWRAPPED.value,
            detail=detail,
            at=utcnow(),
        )
    )
    # Key caches holding the old wrap (or unable to open it) re-read the row.
    notice = notifications.KeyNotice(
        team_id=row.team_id, provider_id=row.provider_id, key_id=row.id, action="rewrap"
    )
    notifications.send(session, notice)
    return True


def _counts(session: Session, fingerprint: str) -> tuple[int, int]:
    total = session.scalar(select(func.count()).select_from(K)) or 0
    on_newest = session.scalar(select(func.count()).where(K.kek_fingerprint == fingerprint)) or 0
    return total, on_newest


def _sealed(row: Row[Any]) -> SealedSecret:
    return SealedSecret(
        ciphertext=row.ciphertext,
        nonce=row.nonce,
        wrapped_dek=row.wrapped_dek,
        dek_nonce=row.dek_nonce,
        kek_version=row.kek_version,
        kek_fingerprint=row.kek_fingerprint,
    )


def _binding(row: Row[Any]) -> KeyBinding:
    return KeyBinding(team_id=row.team_id, provider_id=row.provider_id, key_id=row.id)


def _unreadable(row: Row[Any], exc: RegistryError) -> UnreadableKey:
    return UnreadableKey(
        key_id=row.id,
        team=row.team,
        provider=row.provider,
        label=row.label,
        last4=row.last4,
        kek_version=row.kek_version,
        problem=str(exc),
    )

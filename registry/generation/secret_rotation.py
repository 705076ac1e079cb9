"""Master-key rotation for webhook secrets: re-wrap each live secret's data key onto the newest
master (the secret's ciphertext is untouched), across all teams."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.domain import Frozen
from registry.errors import RegistryError
from registry.generation.secrets import binding_of, sealed_of
from registry.generation.tables import WebhookSecretRow
from registry.keys.crypto import MasterKeyring, rewrap

S = WebhookSecretRow


class SecretRewrap(Frozen):
    rewrapped: int
    already_current: int
    unreadable: list[str]  # "team id / purpose scope label: problem"; add such secrets again


def rewrap_webhook_secrets(session: Session, ring: MasterKeyring) -> SecretRewrap:
    """Move every unrevoked webhook secret onto the newest master key (compare-and-set on the
    fingerprint it was read with, so a concurrent rotation is not undone)."""
    newest = ring.newest.fingerprint
    rows = session.scalars(select(S).where(S.revoked_at.is_(None)).order_by(S.id)).all()
    rewrapped, current, unreadable = 0, 0, []
    for row in rows:
        if row.kek_fingerprint == newest:
            current += 1
            continue
        try:
            sealed = rewrap(sealed_of(row), binding_of(row), ring)
        except RegistryError as exc:
            unreadable.append(f"team {row.team_id} / {row.purpose} {row.scope} {row.label}: {exc}")
            continue
        moved = session.execute(
            update(S)
            .where(S.id == row.id, S.kek_fingerprint == row.kek_fingerprint)
            .values(
                wrapped_dek=sealed.wrapped_dek,
                dek_nonce=sealed.dek_nonce,
                kek_version=sealed.kek_version,
                kek_fingerprint=sealed.kek_fingerprint,
            )
            .returning(S.id)
            .execution_options(synchronize_session=False)
        ).first()
        rewrapped += moved is not None
    return SecretRewrap(rewrapped=rewrapped, already_current=current, unreadable=unreadable)

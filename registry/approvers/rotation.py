"""Master-key rotation for approvers' TOTP secrets: re-wrap each live enrolment's data key
onto the newest master (the secret's ciphertext is untouched), across all teams."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.approvers.repository import binding_of, sealed_of
from registry.approvers.tables import ApproverEnrolmentRow
from registry.domain import Frozen
from registry.errors import RegistryError
from registry.keys.crypto import MasterKeyring, rewrap

E = ApproverEnrolmentRow


class EnrolmentRewrap(Frozen):
    rewrapped: int
    already_current: int
    unreadable: list[str]  # "team id / name: problem"; such approvers must re-enrol


def rewrap_enrolments(session: Session, ring: MasterKeyring) -> EnrolmentRewrap:
    """Move every live enrolment onto the newest master; replaced ones are left as they are."""
    newest = ring.newest.fingerprint
    rows = session.scalars(select(E).where(E.replaced_at.is_(None)).order_by(E.id)).all()
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
            update(E)
            .where(E.id == row.id, E.kek_fingerprint == row.kek_fingerprint)
            .values(
                wrapped_dek=sealed.wrapped_dek,
                dek_nonce=sealed.dek_nonce,
                kek_version=sealed.kek_version,
                kek_fingerprint=sealed.kek_fingerprint,
            )
            .returning(E.id)
            .execution_options(synchronize_session=False)
        ).first()
        rewrapped += moved is not None
    current = sum(1 for row in rows if row.kek_fingerprint == newest)
    return EnrolmentRewrap(rewrapped=rewrapped, already_current=current, unreadable=unreadable)

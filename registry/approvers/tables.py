"""ORM rows of approver identity: enrolments (TOTP secret as ciphertext only), used codes,
and the refused attempts kept on an approval."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm import Base, UTCDateTime, partial_index, utcnow
from registry.tables import BigId


class ApproverEnrolmentRow(Base):
    """One enrolment of a person of a team; re-enrolling replaces it with a new row."""

    __tablename__ = "approver_enrolments"
    __table_args__ = (
        # One live enrolment per person and team, enforced by the database.
        partial_index(
            "uq_approver_enrolments_one_live",
            "team_id",
            "name",
            unique=True,
            where="replaced_at IS NULL",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    name: Mapped[str] = mapped_column(String(128))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    dek_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    kek_version: Mapped[str] = mapped_column(String(32))
    kek_fingerprint: Mapped[str] = mapped_column(String(16), index=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApproverCodeUseRow(Base):
    """A time step whose code an enrolment has accepted: each is accepted once."""

    __tablename__ = "approver_code_uses"
    __table_args__ = (UniqueConstraint("enrolment_id", "time_step"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("approver_enrolments.id"))
    time_step: Mapped[int] = mapped_column(BigInteger)
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approvals.id"))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApprovalAttemptRow(Base):
    """An answer that was refused: who claimed to answer, when, and why it did not count.
    Never the code. Append-only: PostgreSQL refuses UPDATE and DELETE (see migrations)."""

    __tablename__ = "approval_attempts"
    __table_args__ = (Index("ix_approval_attempts_approval_id_id", "approval_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("approvals.id"))
    reviewer: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

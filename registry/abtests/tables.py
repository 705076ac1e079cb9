"""ORM rows of A/B tests and their looks (append-only on PostgreSQL: a trigger refuses
UPDATE and DELETE, see the migration)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.abtests.domain import ABTestStatus, VerdictKind
from registry.orm import Base, JsonDocument, UTCDateTime, utcnow
from registry.tables import BigId


def _one_of(values: type[ABTestStatus | VerdictKind]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


class ABTestRow(Base):
    __tablename__ = "ab_tests"
    __table_args__ = (
        Index("ix_ab_tests_team_id_status", "team_id", "status"),
        CheckConstraint(f"status IN ({_one_of(ABTestStatus)})", name="status_known"),
        CheckConstraint(
            f"verdict IS NULL OR verdict IN ({_one_of(VerdictKind)})", name="verdict_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    a_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    b_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    status: Mapped[str] = mapped_column(String(16))
    # The validated ABTestDefinition and the Plan, as JSON.
    definition: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    plan: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    # The endpoint's routes before the split, restored when the test ends without a winner.
    routes_before: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    # Each arm's sums in the start minute when the routes changed: looks subtract them.
    start_minute: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    verdict: Mapped[str | None] = mapped_column(String(32))
    verdict_reason: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    flow_run_id: Mapped[str | None] = mapped_column(String(64))


class ABTestLookRow(Base):
    """One look: both arms' sufficient statistics and what was computed from them."""

    __tablename__ = "ab_test_looks"
    __table_args__ = (
        UniqueConstraint("test_id", "number"),
        CheckConstraint(
            f"verdict IS NULL OR verdict IN ({_one_of(VerdictKind)})", name="verdict_known"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    test_id: Mapped[int] = mapped_column(ForeignKey("ab_tests.id"))
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    requests_a: Mapped[int] = mapped_column(BigInteger)
    requests_b: Mapped[int] = mapped_column(BigInteger)
    srm_p_value: Mapped[float] = mapped_column(Float)
    # ArmData of a and b, and the LookResult, as JSON.
    arms: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    result: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    verdict: Mapped[str | None] = mapped_column(String(32))
    final: Mapped[bool] = mapped_column(Boolean, default=False)

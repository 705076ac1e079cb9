"""ORM rows of rollouts, their measurements and decisions (the last two append-only on
PostgreSQL: a trigger refuses UPDATE and DELETE, see the migration)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm import Base, JsonDocument, UTCDateTime, utcnow
from registry.rollouts.domain import DecisionKind, RolloutStatus, Strategy, Verdict
from registry.tables import BigId


def _one_of(values: type[RolloutStatus | Strategy | Verdict | DecisionKind]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


class RolloutRow(Base):
    __tablename__ = "rollouts"
    __table_args__ = (
        Index("ix_rollouts_team_id_status", "team_id", "status"),
        CheckConstraint(f"status IN ({_one_of(RolloutStatus)})", name="status_known"),
        CheckConstraint(f"strategy IN ({_one_of(Strategy)})", name="strategy_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    strategy: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    # The checked RolloutPolicy (catalog section plus the run's overrides), as JSON.
    policy: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    step: Mapped[int] = mapped_column(Integer, default=0)
    step_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Both arms' sums since the rollout started, as they stood when the step began: a
    # step's window is the sums now less these (rollups are whole minutes, steps are not).
    step_offset: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    # direct and blue-green: the old version's sums before the switch, the baseline.
    prior_baseline: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    routes_before: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approvals.id"))
    outcome: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    flow_run_id: Mapped[str | None] = mapped_column(String(64))


class RolloutMeasurementRow(Base):
    """One look at a step: both arms' sums over the step's window and the verdict."""

    __tablename__ = "rollout_measurements"
    __table_args__ = (
        UniqueConstraint("rollout_id", "number"),
        CheckConstraint(f"verdict IN ({_one_of(Verdict)})", name="verdict_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id"))
    number: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    # ArmSums of the baseline and the candidate; the checks as `analysis` returned them.
    arms: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    verdict: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)


class RolloutDecisionRow(Base):
    """What was decided, by whom, why, and the routes it left; written in the transaction
    that moves the routes, so no route moves without its decision."""

    __tablename__ = "rollout_decisions"
    __table_args__ = (
        UniqueConstraint("rollout_id", "number"),
        CheckConstraint(f"kind IN ({_one_of(DecisionKind)})", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id"))
    number: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    routes: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    measurement: Mapped[int | None] = mapped_column(Integer)  # its number, if one decided
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

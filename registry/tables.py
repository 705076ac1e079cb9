"""ORM rows of the registry core: teams, providers, models, versions, ledger, approvals.

Rows never leave `registry/`: repositories turn them into domain objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.orm import Base, JsonDocument, UTCDateTime, partial_index, utcnow
from registry.stages import Stage

_STAGES = ", ".join(f"'{stage.value}'" for stage in Stage)
# BIGINT on PostgreSQL, but SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class TeamRow(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProviderRow(Base):
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str | None] = mapped_column(String(512))
    options: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    source_file: Mapped[str] = mapped_column(String(512))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    base_model: Mapped[str] = mapped_column(String(256))
    category: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    cost: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    policy: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    rollout: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    alerts: Mapped[list[Any]] = mapped_column(JsonDocument, default=list)  # AlertRuleSpec each
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    prompt_template: Mapped[str | None] = mapped_column(Text)
    source_file: Mapped[str] = mapped_column(String(512))
    # Versions are numbered from this counter with UPDATE … RETURNING, never MAX()+1.
    last_version: Mapped[int] = mapped_column(Integer, default=0)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        CheckConstraint(f"stage IN ({_STAGES})", name="stage_known"),
        # One production version per model, enforced by the database itself.
        partial_index(
            "uq_model_versions_one_production",
            "model_id",
            unique=True,
            where="stage = 'production'",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version: Mapped[int] = mapped_column(Integer)
    provider_model_id: Mapped[str] = mapped_column(String(256))
    stage: Mapped[str] = mapped_column(String(16), default=Stage.DEVELOPMENT.value)
    parent_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    dataset_uri: Mapped[str | None] = mapped_column(String(1024))
    dataset_sha256: Mapped[str | None] = mapped_column(String(64))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    fine_tune_job_id: Mapped[str | None] = mapped_column(String(256))
    provider_key_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LedgerEntryRow(Base):
    """Append-only: PostgreSQL refuses UPDATE and DELETE with a trigger (see migrations)."""

    __tablename__ = "stage_ledger"
    __table_args__ = (Index("ix_stage_ledger_model_id_id", "model_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApprovalRow(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    target_stage: Mapped[str] = mapped_column(String(16))
    requester: Mapped[str] = mapped_column(String(128))
    approvers: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    min_approvals: Mapped[int] = mapped_column(Integer, default=1)
    four_eyes: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The process waiting for answers, so a dead one is told apart from a slow reviewer.
    runner_host: Mapped[str | None] = mapped_column(String(255))
    runner_pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApprovalDecisionRow(Base):
    __tablename__ = "approval_decisions"
    __table_args__ = (UniqueConstraint("approval_id", "reviewer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("approvals.id"))
    reviewer: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    # The enrolment whose one-time code proved the reviewer (null before codes existed).
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("approver_enrolments.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

"""Fine-tune jobs: one row per idempotency key, so a re-run never makes a second provider job."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.db import Base, JsonDocument, UTCDateTime, utcnow
from registry.domain import Frozen, JsonObject, Team
from registry.errors import NotFoundError


class FineTuneStatus(StrEnum):
    CREATING = "creating"  # row written, provider job not confirmed yet
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FineTuneJobRow(Base):
    __tablename__ = "fine_tune_jobs"
    __table_args__ = (UniqueConstraint("team_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    parent_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(64))
    provider_job_id: Mapped[str | None] = mapped_column(String(256))
    provider_key_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=FineTuneStatus.CREATING.value)
    progress: Mapped[float | None] = mapped_column(Float)
    base_model: Mapped[str] = mapped_column(String(256))
    dataset_uri: Mapped[str] = mapped_column(String(1024))
    dataset_sha256: Mapped[str] = mapped_column(String(64))
    training_file_id: Mapped[str | None] = mapped_column(String(256))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    trained_model_id: Mapped[str | None] = mapped_column(String(256))
    result_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    events: Mapped[list[Any]] = mapped_column(JsonDocument, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FineTuneJobRecord(Frozen):
    id: int
    idempotency_key: str
    provider: str
    provider_job_id: str | None
    provider_key_id: int | None
    status: FineTuneStatus
    progress: float | None
    base_model: str
    dataset_uri: str
    dataset_sha256: str
    training_file_id: str | None
    hyperparameters: JsonObject
    trained_model_id: str | None
    result_version_id: int | None
    events: list[JsonObject]
    error: str | None


class FineTuneJobRepository:
    """Never commits: the caller owns the transaction."""

    def __init__(self, session: Session, team: Team) -> None:
        self._session = session
        self._team = team

    def find(self, idempotency_key: str) -> FineTuneJobRecord | None:
        row = self._find_row(idempotency_key)
        return None if row is None else _to_record(row)

    def claim(self, row: FineTuneJobRow) -> FineTuneJobRecord:
        """Insert the job under its idempotency key (a concurrent twin gets ConflictError)."""
        row.team_id = self._team.id
        self._session.add(row)
        self._session.flush()
        return _to_record(row)

    def update(self, idempotency_key: str, **changes: object) -> FineTuneJobRecord:
        row = self._find_row(idempotency_key)
        if row is None:
            raise NotFoundError(f"no fine-tune job with idempotency key {idempotency_key!r}")
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        self._session.flush()
        return _to_record(row)

    def _find_row(self, idempotency_key: str) -> FineTuneJobRow | None:
        return self._session.scalar(
            select(FineTuneJobRow).where(
                FineTuneJobRow.team_id == self._team.id,
                FineTuneJobRow.idempotency_key == idempotency_key,
            )
        )


def _to_record(row: FineTuneJobRow) -> FineTuneJobRecord:
    return FineTuneJobRecord(
        id=row.id,
        idempotency_key=row.idempotency_key,
        provider=row.provider,
        provider_job_id=row.provider_job_id,
        provider_key_id=row.provider_key_id,
        status=FineTuneStatus(row.status),
        progress=row.progress,
        base_model=row.base_model,
        dataset_uri=row.dataset_uri,
        dataset_sha256=row.dataset_sha256,
        training_file_id=row.training_file_id,
        hyperparameters=row.hyperparameters,
        trained_model_id=row.trained_model_id,
        result_version_id=row.result_version_id,
        events=list(row.events),
        error=row.error,
    )

"""Fine-tune jobs: one row per idempotency key, so a re-run never makes a second provider job.

The row is written before the provider is called; the provider's job id and the key that
created it are stored as soon as the provider answers. A job that failed or was cancelled can
be tried again under the next attempt's key (`attempt_key`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field
from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.domain import Frozen, JsonObject, Team
from registry.errors import NotFoundError, translate_database_errors
from registry.orm import Base, JsonDocument, UTCDateTime, utcnow


class FineTuneStatus(StrEnum):
    CREATING = "creating"  # row written, provider job not confirmed yet
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in {FineTuneStatus.SUCCEEDED, FineTuneStatus.FAILED, FineTuneStatus.CANCELLED}


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


class NewFineTuneJob(Frozen):
    """What is known before the provider is called."""

    model_id: int
    parent_version_id: int | None
    idempotency_key: str = Field(min_length=1, max_length=128)
    provider: str
    base_model: str
    dataset_uri: str
    dataset_sha256: str
    hyperparameters: JsonObject
    flow_run_id: str | None = None


class FineTuneJobRecord(Frozen):
    id: int
    model_id: int
    parent_version_id: int | None
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
    flow_run_id: str | None


def attempt_key(base_key: str, attempt: int) -> str:
    """The idempotency key of one attempt at the job that `base_key` names."""
    return f"{base_key}-a{attempt}"


def attempt_of(key: str) -> int:
    return int(key.rsplit("-a", 1)[1])


class FineTuneJobRepository:
    """Never commits: the caller owns the transaction."""

    def __init__(self, session: Session, team: Team) -> None:
        self._session = session
        self._team = team

    def find(self, idempotency_key: str) -> FineTuneJobRecord | None:
        row = self._find_row(idempotency_key)
        return None if row is None else _to_record(row)

    def latest_attempt(self, base_key: str) -> FineTuneJobRecord | None:
        """The newest attempt made under `base_key` (see `attempt_key`)."""
        rows = self._session.scalars(
            select(FineTuneJobRow).where(
                FineTuneJobRow.team_id == self._team.id,
                FineTuneJobRow.idempotency_key.startswith(f"{base_key}-a", autoescape=True),
            )
        ).all()
        newest = max(rows, key=lambda row: attempt_of(row.idempotency_key), default=None)
        return None if newest is None else _to_record(newest)

    def find_by_flow_run(self, flow_run_id: str) -> FineTuneJobRecord | None:
        """The job the flow run last worked on."""
        row = self._session.scalar(
            select(FineTuneJobRow)
            .where(
                FineTuneJobRow.team_id == self._team.id,
                FineTuneJobRow.flow_run_id == flow_run_id,
            )
            .order_by(FineTuneJobRow.id.desc())
            .limit(1)
        )
        return None if row is None else _to_record(row)

    def find_by_result(self, version_id: int) -> FineTuneJobRecord | None:
        """The job whose trained model became this version, if a fine-tune made it."""
        row = self._session.scalar(
            select(FineTuneJobRow).where(
                FineTuneJobRow.team_id == self._team.id,
                FineTuneJobRow.result_version_id == version_id,
            )
        )
        return None if row is None else _to_record(row)

    def claim(self, new: NewFineTuneJob) -> FineTuneJobRecord:
        """Insert the job under its idempotency key (a concurrent twin gets ConflictError)."""
        row = FineTuneJobRow(
            team_id=self._team.id, status=FineTuneStatus.CREATING.value, **new.model_dump()
        )
        with translate_database_errors(f"claiming fine-tune job {new.idempotency_key}"):
            self._session.add(row)
            self._session.flush()
        return _to_record(row)

    def lock(self, idempotency_key: str) -> FineTuneJobRecord:
        """The job, locked until the transaction ends, so twins of one flow run queue up here."""
        return _to_record(self._require_row(idempotency_key, for_update=True))

    def update(self, idempotency_key: str, **changes: object) -> FineTuneJobRecord:
        row = self._require_row(idempotency_key)
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        self._session.flush()
        return _to_record(row)

    def _require_row(self, idempotency_key: str, *, for_update: bool = False) -> FineTuneJobRow:
        row = self._find_row(idempotency_key, for_update=for_update)
        if row is None:
            raise NotFoundError(f"no fine-tune job with idempotency key {idempotency_key!r}")
        return row

    def _find_row(self, idempotency_key: str, *, for_update: bool = False) -> FineTuneJobRow | None:
        query = select(FineTuneJobRow).where(
            FineTuneJobRow.team_id == self._team.id,
            FineTuneJobRow.idempotency_key == idempotency_key,
        )
        return self._session.scalar(query.with_for_update() if for_update else query)


def _to_record(row: FineTuneJobRow) -> FineTuneJobRecord:
    return FineTuneJobRecord(
        id=row.id,
        model_id=row.model_id,
        parent_version_id=row.parent_version_id,
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
        flow_run_id=row.flow_run_id,
    )

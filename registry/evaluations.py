"""Evaluations: a version scored on a named dataset, per example and in aggregate, with verdicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.db import Base, JsonDocument, UTCDateTime, utcnow
from registry.domain import Frozen, JsonObject, Team


class EvaluationRow(Base):
    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    dataset_name: Mapped[str] = mapped_column(String(256))
    dataset_uri: Mapped[str] = mapped_column(String(1024))
    dataset_sha256: Mapped[str] = mapped_column(String(64))
    examples: Mapped[int] = mapped_column(Integer)
    correct: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float] = mapped_column(Float)
    accuracy_low: Mapped[float] = mapped_column(Float)
    accuracy_high: Mapped[float] = mapped_column(Float)
    latency_p50_ms: Mapped[float] = mapped_column(Float)
    latency_p95_ms: Mapped[float] = mapped_column(Float)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cost: Mapped[float] = mapped_column(Float)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    champion_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    comparison: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    gates: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    passed: Mapped[bool] = mapped_column(Boolean)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EvaluationExampleRow(Base):
    __tablename__ = "evaluation_examples"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    example_sha256: Mapped[str] = mapped_column(String(64))
    expected: Mapped[str] = mapped_column(String(256))
    predicted: Mapped[str | None] = mapped_column(String(256))
    correct: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float] = mapped_column(Float)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(512))


class ExampleResult(Frozen):
    position: int
    example_sha256: str
    expected: str
    predicted: str | None
    correct: bool
    latency_ms: float
    input_tokens: int
    output_tokens: int
    error: str | None = None


class EvaluationSummary(Frozen):
    """Aggregates of one evaluation run; `gates` maps gate name to its verdict and reason."""

    dataset_name: str
    dataset_uri: str
    dataset_sha256: str
    examples: int
    correct: int
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    latency_p50_ms: float
    latency_p95_ms: float
    input_tokens: int
    output_tokens: int
    cost: float
    errors: int
    champion_version: int | None
    comparison: JsonObject
    gates: JsonObject
    passed: bool


class Evaluation(EvaluationSummary):
    id: int
    model: str
    version: int
    flow_run_id: str | None
    created_at: datetime


class EvaluationRepository:
    """Never commits: the caller owns the transaction."""

    def __init__(self, session: Session, team: Team) -> None:
        self._session = session
        self._team = team

    def record(
        self,
        version_row_ids: tuple[int, int, int | None],
        summary: EvaluationSummary,
        examples: list[ExampleResult],
        flow_run_id: str | None,
    ) -> int:
        """Store one evaluation; `version_row_ids` = (model id, version id, champion version id)."""
        model_id, version_id, champion_id = version_row_ids
        fields = summary.model_dump(exclude={"champion_version"})
        row = EvaluationRow(
            team_id=self._team.id,
            model_id=model_id,
            version_id=version_id,
            champion_version_id=champion_id,
            flow_run_id=flow_run_id,
            **fields,
        )
        self._session.add(row)
        self._session.flush()
        self._session.add_all(
            EvaluationExampleRow(evaluation_id=row.id, **example.model_dump())
            for example in examples
        )
        self._session.flush()
        return row.id

    def latest_for_version(
        self, version_id: int, *, passed_only: bool = False
    ) -> EvaluationRow | None:
        query = select(EvaluationRow).where(
            EvaluationRow.team_id == self._team.id, EvaluationRow.version_id == version_id
        )
        if passed_only:
            query = query.where(EvaluationRow.passed.is_(True))
        return self._session.scalars(query.order_by(EvaluationRow.id.desc()).limit(1)).first()

    def example_outcomes(self, evaluation_id: int) -> dict[str, bool]:
        """Correctness per example hash, for paired comparison with another version."""
        rows = self._session.execute(
            select(EvaluationExampleRow.example_sha256, EvaluationExampleRow.correct).where(
                EvaluationExampleRow.evaluation_id == evaluation_id
            )
        )
        return {sha: correct for sha, correct in rows}

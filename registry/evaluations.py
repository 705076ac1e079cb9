"""Evaluations: a version scored on a named dataset, per example and in aggregate, with verdicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.domain import Frozen, JsonObject, Team
from registry.orm import Base, JsonDocument, UTCDateTime, utcnow
from registry.tables import ModelRow, ModelVersionRow


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


class EvaluationAggregates(Frozen):
    """What one version scored on one run: accuracy with its interval, latency, tokens, cost."""

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


class EvaluationSummary(EvaluationAggregates):
    """One evaluation run; `gates` maps gate name to its verdict and reason."""

    dataset_name: str
    dataset_uri: str
    dataset_sha256: str
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
        self._session.add_all(_example_row(row.id, example) for example in examples)
        self._session.flush()
        return row.id

    def latest_for_version(
        self,
        version_id: int,
        *,
        passed_only: bool = False,
        dataset_sha256: str | None = None,
    ) -> Evaluation | None:
        """The newest evaluation of a version, optionally only passing ones or on one dataset."""
        query = select(EvaluationRow).where(
            EvaluationRow.team_id == self._team.id, EvaluationRow.version_id == version_id
        )
        if passed_only:
            query = query.where(EvaluationRow.passed.is_(True))
        if dataset_sha256 is not None:
            query = query.where(EvaluationRow.dataset_sha256 == dataset_sha256)
        row = self._session.scalars(query.order_by(EvaluationRow.id.desc()).limit(1)).first()
        return None if row is None else self._to_evaluation(row)

    def examples(self, evaluation_id: int) -> list[ExampleResult]:
        """Per-example results of one evaluation of this team, in dataset order."""
        rows = self._session.scalars(
            select(EvaluationExampleRow)
            .join(EvaluationRow, EvaluationRow.id == EvaluationExampleRow.evaluation_id)
            .where(
                EvaluationRow.team_id == self._team.id,
                EvaluationExampleRow.evaluation_id == evaluation_id,
            )
            .order_by(EvaluationExampleRow.position, EvaluationExampleRow.id)
        )
        return [ExampleResult.model_validate(row, from_attributes=True) for row in rows]

    def example_outcomes(self, evaluation_id: int) -> dict[str, bool]:
        """Correctness per example hash, for paired comparison with another version."""
        return {example.example_sha256: example.correct for example in self.examples(evaluation_id)}

    def _to_evaluation(self, row: EvaluationRow) -> Evaluation:
        version = self._session.get_one(ModelVersionRow, row.version_id)
        model = self._session.get_one(ModelRow, row.model_id)
        champion = (
            self._session.get_one(ModelVersionRow, row.champion_version_id)
            if row.champion_version_id is not None
            else None
        )
        return Evaluation(
            id=row.id,
            model=model.name,
            version=version.version,
            flow_run_id=row.flow_run_id,
            created_at=row.created_at,
            champion_version=champion.version if champion else None,
            **{name: getattr(row, name) for name in _SUMMARY_COLUMNS},
        )


# Summary fields stored as columns of the same name (champion_version is stored as an id).
_SUMMARY_COLUMNS = tuple(
    name for name in EvaluationSummary.model_fields if name != "champion_version"
)


def _example_row(evaluation_id: int, example: ExampleResult) -> EvaluationExampleRow:
    # Chat answers can outgrow the columns; correctness was judged on the full text first.
    fields = example.model_dump()
    for name, width in _CLIPPED.items():
        fields[name] = _clip(fields[name], width)
    return EvaluationExampleRow(evaluation_id=evaluation_id, **fields)


_CLIPPED = {"expected": 256, "predicted": 256, "error": 512}


def _clip(text: str | None, width: int) -> str | None:
    if text is None or len(text) <= width:
        return text
    return text[: width - 1] + "…"

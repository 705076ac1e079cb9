"""What an evaluation run is about: the version under test, its champion, the gates, the move.

Plain data passed between the evaluate flow's tasks, and the rule for the stage move.
"""

from __future__ import annotations

from pydantic import Field

from adapters.categories import Category
from registry.catalog_spec import CostSpec, GatesSpec
from registry.domain import Frozen
from registry.evaluations import ExampleResult
from registry.stages import Stage

# Categories whose answers can be scored against an expected text.
SCORABLE = (Category.CLASSIFICATION, Category.CHAT)


class EvaluationInputError(ValueError):
    """The model or version cannot be evaluated as asked; nothing was run or stored."""


class VersionUnderTest(Frozen):
    """One version to send the examples to, with the ids its results are stored under."""

    model: str
    model_id: int
    version: int
    version_id: int
    provider: str
    provider_model_id: str
    category: Category
    stage: Stage


class EvaluationPlan(Frozen):
    candidate: VersionUnderTest
    champion: VersionUnderTest | None = Field(
        description="The production version, when there is one and it is not the candidate."
    )
    gates: GatesSpec = Field(description="The gates of the model's `staging` policy.")
    staging_approvers: list[str] = Field(default_factory=list)
    cost: CostSpec


class RunResults(Frozen):
    """One version's answers to every example of the dataset, in dataset order."""

    version: int
    results: list[ExampleResult]
    reused_evaluation_id: int | None = Field(
        default=None, description="Set when the results come from a stored evaluation."
    )


class StageMove(Frozen):
    """What to do with the candidate's stage after the evaluation, and why."""

    target: Stage | None
    note: str


class Stored(Frozen):
    """Where the evaluation landed; the champion's record is reused or stored alongside."""

    evaluation_id: int
    champion_evaluation_id: int | None = None
    champion_reused: bool = False


class Settlement(Frozen):
    stage: Stage
    moved: bool
    note: str


def decide_move(plan: EvaluationPlan, passed: bool, failures: list[str]) -> StageMove:
    """Only a version in `testing` moves: to staging when the gates pass, else to rejected."""
    candidate = plan.candidate
    name = f"{candidate.model} v{candidate.version}"
    if candidate.stage is not Stage.TESTING:
        return StageMove(
            target=None,
            note=f"{name} is in {candidate.stage}, not testing: evaluation recorded, "
            "stage unchanged",
        )
    if not passed:
        return StageMove(target=Stage.REJECTED, note=f"{name} rejected: {'; '.join(failures)}")
    if plan.staging_approvers:
        # transition_stage refuses such a move without an approval: that is the promote flow.
        return StageMove(
            target=None,
            note=f"{name} passed the staging gates; staging needs approval by "
            f"{', '.join(plan.staging_approvers)}: run the promote flow with stage=staging",
        )
    return StageMove(target=Stage.STAGING, note=f"{name} passed the staging gates: now staging")

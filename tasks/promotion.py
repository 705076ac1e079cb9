"""Tasks of the promote flow: gate check, approval bookkeeping, the stage move itself."""

from __future__ import annotations

from datetime import timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from registry.approval_liveness import this_process
from registry.approval_service import ReviewAnswer, ReviewOutcome, apply_review, expire
from registry.approvals import ApprovalRepository
from registry.approvers.repository import ApproverRepository
from registry.catalog_spec import GatesSpec
from registry.domain import Approval, Frozen, ModelVersion, StagePolicy
from registry.errors import ConflictError
from registry.evaluations import Evaluation, EvaluationRepository
from registry.gates import ChampionComparison, GateVerdict, judge_gates
from registry.lifecycle import TransitionRequest, TransitionResult, transition_stage
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tasks.context import keyring, unit_of_work


class EvaluationEvidence(Frozen):
    id: int
    dataset: str
    examples: int
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    latency_p95_ms: float
    passed: bool
    versus_champion: str
    worse_than_champion: bool


class PromotionEvidence(Frozen):
    """What reviewers see and what the ledger keeps: every gate verdict and its numbers."""

    model: str
    version: ModelVersion
    target: Stage
    policy: StagePolicy
    champion: int | None
    evaluation: EvaluationEvidence | None
    gates: list[GateVerdict] = Field(default_factory=list)

    @property
    def gate_failures(self) -> list[str]:
        return [verdict.reason for verdict in self.gates if not verdict.passed]

    @property
    def gates_pass(self) -> bool:
        return all(verdict.passed for verdict in self.gates)


@task(cache_policy=NO_CACHE)
def gather_evidence(model: str, version: int, target: Stage) -> PromotionEvidence:
    """Judge the target stage's gates on the version's latest evaluation, as evaluate does."""
    with unit_of_work() as (session, team):
        models = ModelRepository(session, team)
        record = models.version(model, version)
        policy = models.get(model).policy.get(target.value, StagePolicy())
        champion = models.production(model)
        latest = EvaluationRepository(session, team).latest_for_version(record.id)
    rival = champion.version if champion and champion.version != version else None
    comparison = None if latest is None else ChampionComparison.from_stored(latest.comparison)
    verdicts = judge_gates(
        GatesSpec.model_validate(policy.gates), latest, comparison, champion=rival
    )
    return PromotionEvidence(
        model=model,
        version=record,
        target=target,
        policy=policy,
        champion=champion.version if champion else None,
        evaluation=None if latest is None else _evidence_of(latest),
        gates=verdicts,
    )


def _evidence_of(evaluation: Evaluation) -> EvaluationEvidence:
    return EvaluationEvidence(
        id=evaluation.id,
        dataset=evaluation.dataset_name,
        examples=evaluation.examples,
        accuracy=evaluation.accuracy,
        accuracy_low=evaluation.accuracy_low,
        accuracy_high=evaluation.accuracy_high,
        latency_p95_ms=evaluation.latency_p95_ms,
        passed=evaluation.passed,
        versus_champion=str(evaluation.comparison.get("summary", "no champion")),
        worse_than_champion=bool(evaluation.comparison.get("worse_than_champion", False)),
    )


@task(cache_policy=NO_CACHE)
def open_approval(
    evidence: PromotionEvidence, requester: str, flow_run_id: str | None, timeout_seconds: int
) -> Approval:
    """A pending approval that expires with the run's wait, naming this process as its waiter."""
    with unit_of_work() as (session, team):
        row = ModelRepository(session, team).version_row(evidence.model, evidence.version.version)
        approvals = ApprovalRepository(session, team)
        approval = approvals.open(
            row,
            target=evidence.target,
            requester=requester,
            policy=evidence.policy,
            expires_in=timedelta(seconds=timeout_seconds),
            runner=this_process(),
        )
        if flow_run_id:
            approvals.attach_flow_run(approval.id, flow_run_id)
        return approvals.get(approval.id)


@task(cache_policy=NO_CACHE)
def record_review(approval_id: int, answer: ReviewAnswer) -> ReviewOutcome:
    """Prove the reviewer by their one-time code, then apply the answer (see approval_service)."""
    with unit_of_work() as (session, team):
        approvers = ApproverRepository(session, team, keyring())
        return apply_review(session, team, approval_id, answer, approvers)


@task(cache_policy=NO_CACHE)
def expire_approval(approval_id: int) -> Approval:
    """Expire the approval if it is still pending (`approvals expire` may have done it first)."""
    with unit_of_work() as (session, team):
        try:
            return expire(session, team, approval_id)
        except ConflictError:
            return ApprovalRepository(session, team).get(approval_id)


@task(cache_policy=NO_CACHE)
def move_stage(request: TransitionRequest) -> TransitionResult:
    """The compare-and-set stage move with its ledger entry."""
    with unit_of_work() as (session, team):
        return transition_stage(session, team, request)

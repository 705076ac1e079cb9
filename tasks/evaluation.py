"""Tasks of the evaluate flow: read the dataset, plan, run the examples, score, store, move, report.

Each task does one typed job. Only `run_examples` calls a provider, so only it retries, and only
on retryable provider faults; it is the one place with a time limit on the whole job.
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from registry.catalog_spec import CostSpec, GatesSpec
from registry.domain import Frozen, Model, ModelVersion, StagePolicy
from registry.evaluations import EvaluationRepository
from registry.lifecycle import TransitionRequest, transition_stage
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tasks.context import provider, team, unit_of_work
from tasks.evaluation_dataset import EvalDataset, read_eval_dataset
from tasks.evaluation_plan import (
    SCORABLE,
    EvaluationInputError,
    EvaluationPlan,
    RunResults,
    Settlement,
    Stored,
    VersionUnderTest,
    decide_move,
)
from tasks.evaluation_report import label_table, report_key, report_markdown
from tasks.evaluation_run import asker, run_all
from tasks.evaluation_scoring import Scorecard, ledger_evidence, score
from tasks.retry import retry_on_transient

RUN_TIMEOUT_SECONDS = 6 * 3600


class SettleRequest(Frozen):
    plan: EvaluationPlan
    scorecard: Scorecard
    evaluation_id: int
    actor: str
    flow_run_id: str | None


class ReportRequest(Frozen):
    plan: EvaluationPlan
    scorecard: Scorecard
    stored: Stored
    settlement: Settlement
    candidate: RunResults
    champion: RunResults | None


@task(cache_policy=NO_CACHE)
def load_dataset(path: str) -> EvalDataset:
    """Read, check and hash the whole eval file before anything is sent or stored."""
    return read_eval_dataset(path)


@task(cache_policy=NO_CACHE)
def plan_evaluation(model: str, version: int) -> EvaluationPlan:
    """The version under test, the production version to compare with, the staging gates."""
    with unit_of_work() as (session, current_team):
        models = ModelRepository(session, current_team)
        record = models.get(model)
        candidate = _under_test(record, models.version(model, version))
        production = models.production(model)
    champion = None
    if production is not None and production.id != candidate.version_id:
        champion = _under_test(record, production)
    staging = record.policy.get(Stage.STAGING.value, StagePolicy())
    return EvaluationPlan(
        candidate=candidate,
        champion=champion,
        gates=GatesSpec.model_validate(staging.gates),
        staging_approvers=staging.approvers,
        cost=CostSpec.model_validate(record.cost),
    )


def _under_test(model: Model, version: ModelVersion) -> VersionUnderTest:
    if model.category not in SCORABLE:
        raise EvaluationInputError(
            f"{model.name} is a {model.category} model; evaluate scores "
            f"{' and '.join(SCORABLE)} models, whose answers compare with an expected text"
        )
    return VersionUnderTest(
        model=model.name,
        model_id=model.id,
        version=version.version,
        version_id=version.id,
        provider=model.provider,
        provider_model_id=version.provider_model_id,
        category=model.category,
        stage=version.stage,
    )


@task(
    cache_policy=NO_CACHE,
    task_run_name="run-{target.model}-v{target.version}",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_on_transient,
    timeout_seconds=RUN_TIMEOUT_SECONDS,
)
async def run_examples(
    target: VersionUnderTest, dataset: EvalDataset, concurrency: int
) -> RunResults:
    """Every example through the version, `concurrency` at a time, publishing progress."""
    progress = await acreate_progress_artifact(
        0.0,
        key=f"{report_key(target.model, target.version)}-progress",
        description=f"{target.model} v{target.version} on {dataset.name}: examples answered",
    )

    async def publish(percent: float) -> None:
        await aupdate_progress_artifact(progress, percent)

    async with provider(target.provider, team()) as handle:
        results = await run_all(
            dataset.examples, asker(handle, target), concurrency=concurrency, publish=publish
        )
    return RunResults(version=target.version, results=results)


@task(cache_policy=NO_CACHE)
def stored_champion_results(champion: VersionUnderTest, dataset: EvalDataset) -> RunResults | None:
    """The champion's stored results on this very dataset, paired by example hash, if any."""
    with unit_of_work() as (session, current_team):
        evaluations = EvaluationRepository(session, current_team)
        stored = evaluations.latest_for_version(champion.version_id, dataset_sha256=dataset.sha256)
        examples = [] if stored is None else evaluations.examples(stored.id)
    by_hash = {example.example_sha256: example for example in examples}
    if stored is None or any(e.sha256 not in by_hash for e in dataset.examples):
        return None
    results = [
        by_hash[e.sha256].model_copy(update={"position": e.position}) for e in dataset.examples
    ]
    return RunResults(version=champion.version, results=results, reused_evaluation_id=stored.id)


@task(cache_policy=NO_CACHE)
def score_evaluation(
    plan: EvaluationPlan, dataset: EvalDataset, candidate: RunResults, champion: RunResults | None
) -> Scorecard:
    """Aggregates, the paired test against the champion and the gate verdicts."""
    return score(plan, dataset, candidate, champion)


@task(cache_policy=NO_CACHE)
def store_evaluation(
    plan: EvaluationPlan,
    scorecard: Scorecard,
    candidate: RunResults,
    champion: RunResults | None,
    flow_run_id: str | None,
) -> Stored:
    """The candidate's evaluation and, when it was run just now, the champion's baseline."""
    summary = scorecard.summary
    with unit_of_work() as (session, current_team):
        evaluations = EvaluationRepository(session, current_team)
        champion_evaluation, champion_version_id = None, None
        if plan.champion is not None and champion is not None:
            champion_version_id = plan.champion.version_id
            champion_evaluation = champion.reused_evaluation_id
            if champion_evaluation is None and scorecard.champion_summary is not None:
                champion_evaluation = evaluations.record(
                    (plan.champion.model_id, champion_version_id, None),
                    scorecard.champion_summary,
                    champion.results,
                    flow_run_id,
                )
            comparison = {**summary.comparison, "champion_evaluation_id": champion_evaluation}
            summary = summary.model_copy(update={"comparison": comparison})
        evaluation_id = evaluations.record(
            (plan.candidate.model_id, plan.candidate.version_id, champion_version_id),
            summary,
            candidate.results,
            flow_run_id,
        )
    return Stored(
        evaluation_id=evaluation_id,
        champion_evaluation_id=champion_evaluation,
        champion_reused=champion is not None and champion.reused_evaluation_id is not None,
    )


@task(cache_policy=NO_CACHE)
def settle_stage(request: SettleRequest) -> Settlement:
    """A version in testing goes to staging or rejected, with the evidence in the ledger."""
    candidate = request.plan.candidate
    scorecard = request.scorecard
    move = decide_move(request.plan, scorecard.summary.passed, scorecard.failures)
    if move.target is None:
        return Settlement(stage=candidate.stage, moved=False, note=move.note)
    transition = TransitionRequest(
        model=candidate.model,
        version=candidate.version,
        target=move.target,
        actor=request.actor,
        reason=f"evaluation #{request.evaluation_id}: {move.note}"[:4000],
        expect=Stage.TESTING,
        evidence=ledger_evidence(scorecard, request.evaluation_id),
        flow_run_id=request.flow_run_id,
    )
    with unit_of_work() as (session, current_team):
        moved = transition_stage(session, current_team, transition)
    return Settlement(stage=moved.version.stage, moved=True, note=move.note)


@task(cache_policy=NO_CACHE)
async def publish_report(request: ReportRequest) -> str:
    """The markdown report and the per-label table, keyed by model and version."""
    candidate = request.plan.candidate
    key = report_key(candidate.model, candidate.version)
    markdown = report_markdown(request.plan, request.scorecard, request.stored, request.settlement)
    what = f"{candidate.model} v{candidate.version} on {request.scorecard.summary.dataset_name}"
    await acreate_markdown_artifact(markdown, key=key, description=f"Evaluation of {what}")
    await acreate_table_artifact(
        label_table(request.candidate, request.champion),
        key=f"{key}-labels",
        description=f"Accuracy per expected answer: {what}",
    )
    return key

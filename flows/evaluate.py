"""evaluate: score a version on an eval set, pair it with the champion, judge the staging gates."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.params import EvaluateParams
from registry.domain import Frozen
from registry.stages import Stage
from tasks.context import current_flow_run_id
from tasks.evaluation import (
    ReportRequest,
    SettleRequest,
    load_dataset,
    plan_evaluation,
    publish_report,
    run_examples,
    score_evaluation,
    settle_stage,
    store_evaluation,
    stored_champion_results,
)
from tasks.evaluation_plan import Settlement, Stored
from tasks.evaluation_scoring import Scorecard


class EvaluateOutcome(Frozen):
    """What the run concluded; the full record is evaluation `evaluation_id`."""

    evaluation_id: int
    dataset_sha256: str
    examples: int
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    latency_p50_ms: float
    latency_p95_ms: float
    cost: float
    champion_version: int | None
    versus_champion: str
    passed: bool
    gate_failures: list[str]
    stage: Stage
    moved: bool
    note: str
    report_key: str


@flow(
    name="evaluate",
    flow_run_name="evaluate-{params.model}-v{params.version}",
    description="Eval set → version (and champion) → aggregates, McNemar, staging gates → "
    "stored evaluation → testing moves to staging or rejected → report.",
)
async def evaluate(params: EvaluateParams) -> EvaluateOutcome:
    logger = get_run_logger()
    dataset = load_dataset(params.dataset)
    plan = plan_evaluation(params.model, params.version)
    logger.info(
        "%d examples of %s (sha256 %s)", len(dataset.examples), dataset.name, dataset.sha256
    )
    candidate = await run_examples(plan.candidate, dataset, params.concurrency)
    champion = None
    if plan.champion is not None:
        champion = stored_champion_results(plan.champion, dataset)
        if champion is None:
            logger.info(
                "champion v%s has no results on this dataset: running it", plan.champion.version
            )
            champion = await run_examples(plan.champion, dataset, params.concurrency)
    scorecard = score_evaluation(plan, dataset, candidate, champion)
    run_id = current_flow_run_id()
    stored = store_evaluation(plan, scorecard, candidate, champion, run_id)
    settlement = settle_stage(
        SettleRequest(
            plan=plan,
            scorecard=scorecard,
            evaluation_id=stored.evaluation_id,
            actor=params.actor,
            flow_run_id=run_id,
        )
    )
    key = await publish_report(
        ReportRequest(
            plan=plan,
            scorecard=scorecard,
            stored=stored,
            settlement=settlement,
            candidate=candidate,
            champion=champion,
        )
    )
    logger.info("evaluation #%s: %s", stored.evaluation_id, settlement.note)
    return _outcome(scorecard, stored, settlement, key)


def _outcome(
    scorecard: Scorecard, stored: Stored, settlement: Settlement, key: str
) -> EvaluateOutcome:
    summary = scorecard.summary
    return EvaluateOutcome(
        evaluation_id=stored.evaluation_id,
        dataset_sha256=summary.dataset_sha256,
        examples=summary.examples,
        accuracy=summary.accuracy,
        accuracy_low=summary.accuracy_low,
        accuracy_high=summary.accuracy_high,
        latency_p50_ms=summary.latency_p50_ms,
        latency_p95_ms=summary.latency_p95_ms,
        cost=summary.cost,
        champion_version=summary.champion_version,
        versus_champion=str(summary.comparison.get("summary", "")),
        passed=summary.passed,
        gate_failures=scorecard.failures,
        stage=settlement.stage,
        moved=settlement.moved,
        note=settlement.note,
        report_key=key,
    )

"""retrain (scheduled): fine-tune on the configured data → evaluate → promote if the gates pass."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.evaluate import evaluate
from flows.fine_tune import fine_tune
from flows.params import EvaluateParams, FineTuneParams, PromoteParams, RetrainParams
from flows.promote import promote
from registry.domain import Frozen


class RetrainOutcome(Frozen):
    model: str
    version: int
    accuracy: float
    versus_champion: str
    promoted: bool
    note: str


@flow(
    name="retrain",
    flow_run_name="retrain-{params.model}",
    description="Scheduled: fine-tune → evaluate against the champion → promote (waits for "
    "approval) when the staging gates pass.",
)
async def retrain(params: RetrainParams) -> RetrainOutcome:
    logger = get_run_logger()
    tuned = await fine_tune(
        FineTuneParams(
            model=params.model, dataset=params.dataset, training=params.training, actor="retrain"
        )
    )
    scored = await evaluate(
        EvaluateParams(
            model=params.model, version=tuned.version, dataset=params.eval_dataset, actor="retrain"
        )
    )
    outcome = RetrainOutcome(
        model=params.model,
        version=tuned.version,
        accuracy=scored.accuracy,
        versus_champion=scored.versus_champion,
        promoted=False,
        note=scored.note,
    )
    if not scored.passed:
        logger.info(
            "v%s stays out of production: %s", tuned.version, "; ".join(scored.gate_failures)
        )
        return outcome
    promoted = await promote(
        PromoteParams(
            model=params.model,
            version=tuned.version,
            requester=params.requester,
            reason=f"scheduled retrain on {params.dataset}",
            timeout_seconds=params.approval_timeout_seconds,
        )
    )
    return outcome.model_copy(
        update={
            "promoted": True,
            "note": f"now {promoted.stage}, approved by {promoted.approved_by}",
        }
    )

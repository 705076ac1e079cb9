"""fine-tune: validate the dataset → upload → create the provider job once → poll → register.

Safe to run again with the same parameters: the job row is keyed by the inputs, so a re-run
after a crash resumes the same provider job, and a finished one returns the version it made
(also when the parent was left to default and would now be that very version). A failed or
cancelled job is tried again under a new attempt's key.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from adapters.jobs import Hyperparameters
from flows.params import FineTuneParams
from registry.domain import Frozen
from registry.finetune_jobs import FineTuneJobRecord, FineTuneStatus
from registry.stages import Stage
from tasks.context import current_flow_run_id
from tasks.dataset import DatasetReport, validate_dataset
from tasks.finetune import RegisterRequest, register_fine_tuned_version, start_job, upload_dataset
from tasks.finetune_cancel import cancel_provider_job
from tasks.finetune_plan import ClaimRequest, FineTunePlan, claim_job, plan_fine_tune
from tasks.finetune_poll import Watch, follow_job, publish_job_report


class FineTuneFailed(Exception):
    """The provider job failed or was cancelled; the message carries the provider's reason."""


class FineTuneOutcome(Frozen):
    model: str
    version: int
    stage: Stage
    provider_model_id: str
    parent_version: int | None
    fine_tune_job_id: str | None
    dataset_sha256: str
    examples: int


@flow(
    name="fine-tune",
    flow_run_name="fine-tune-{params.model}",
    description="Dataset checks → upload → idempotent provider job → progress → new version "
    "with lineage, in testing. Cancelling the run cancels the provider job.",
    on_cancellation=[cancel_provider_job],
)
async def fine_tune(params: FineTuneParams) -> FineTuneOutcome:
    logger = get_run_logger()
    plan = plan_fine_tune(params.model, params.parent_version)
    dataset = validate_dataset(params.dataset, plan.category)
    for warning in dataset.warnings:
        logger.warning("%s: %s", dataset.name, warning)
    job = claim_job(_claim(params, plan, dataset))
    if job.provider_job_id is None:
        if job.training_file_id is None:
            job = await upload_dataset(job, dataset)
        job = await start_job(job, plan)
    logger.info("provider job %s (%s) is %s", job.provider_job_id, job.provider, job.status)
    if job.result_version_id is None:  # else a run before this one saw it through
        job = await follow_job(job, _watch(params, plan))
        await publish_job_report(job, plan.model)
        if job.status is not FineTuneStatus.SUCCEEDED:
            raise FineTuneFailed(_failure(job))
    version = register_fine_tuned_version(
        RegisterRequest(
            plan=plan,
            idempotency_key=job.idempotency_key,
            actor=params.actor,
            flow_run_id=current_flow_run_id(),
        )
    )
    logger.info("%s v%s is in %s", plan.model, version.version, version.stage)
    return FineTuneOutcome(
        model=plan.model,
        version=version.version,
        stage=version.stage,
        provider_model_id=version.provider_model_id,
        parent_version=version.lineage.parent_version,
        fine_tune_job_id=version.lineage.fine_tune_job_id,
        dataset_sha256=dataset.sha256,
        examples=dataset.examples,
    )


def _claim(params: FineTuneParams, plan: FineTunePlan, dataset: DatasetReport) -> ClaimRequest:
    return ClaimRequest(
        plan=plan,
        dataset=dataset,
        hyperparameters=Hyperparameters.model_validate(
            params.training.model_dump(exclude={"seed"})
        ),
        seed=params.training.seed,
        flow_run_id=current_flow_run_id(),
    )


def _watch(params: FineTuneParams, plan: FineTunePlan) -> Watch:
    return Watch(
        model=plan.model, poll_seconds=params.poll_seconds, timeout_seconds=params.timeout_seconds
    )


def _failure(job: FineTuneJobRecord) -> str:
    return (
        f"fine-tune job {job.provider_job_id} at {job.provider} {job.status}: "
        f"{job.error or 'the provider gave no reason'}"
    )

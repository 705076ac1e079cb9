"""Tasks of the fine-tune flow that talk to the provider or write the result.

Each provider call goes through the team's key pool with a timeout; the upload's key is then
pinned for create, poll and cancel, because files and jobs belong to the account that made them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from adapters.errors import FaultScope, ProviderError
from adapters.jobs import FilePurpose, FineTuneJob, FineTuneRequest, Hyperparameters
from adapters.registry import file_adapter, fine_tune_adapter
from dispatch.providers import ProviderHandle
from registry.domain import Frozen, Lineage, ModelVersion
from registry.finetune_jobs import FineTuneJobRecord, FineTuneJobRepository, FineTuneStatus
from registry.lifecycle import NewVersion, TransitionRequest, register_version, transition_stage
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tasks.context import provider, team, unit_of_work
from tasks.dataset import DatasetError, DatasetReport
from tasks.finetune_plan import FineTunePlan
from tasks.retry import CALL_TIMEOUT_SECONDS, retry_on_transient

# Provider calls retry on transient faults only: 2, 4, 8, 16 s apart, each with jitter.
RETRIES = 4
BACKOFF = exponential_backoff(backoff_factor=2)
# Backstop over each attempt; every provider call inside has its own CALL_TIMEOUT_SECONDS.
TASK_TIMEOUT_SECONDS = 300
SUFFIX_CHARS = 40  # the local adapter's limit; OpenAI allows 64


class FineTuneRefused(Exception):
    """The provider refused to start the job; its row is failed with the provider's reason."""


@task(
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=BACKOFF,
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_on_transient,
    timeout_seconds=TASK_TIMEOUT_SECONDS,
)
async def upload_dataset(job: FineTuneJobRecord, dataset: DatasetReport) -> FineTuneJobRecord:
    """Upload the validated file and remember the file id and the key that uploaded it."""
    content = Path(dataset.path).read_bytes()
    if hashlib.sha256(content).hexdigest() != dataset.sha256:
        raise DatasetError(f"training dataset {dataset.path} changed since it was validated")
    async with provider(job.provider, team()) as handle:
        files = file_adapter(handle.adapter)
        uploaded = await handle.call(
            lambda credential: files.upload_file(
                credential,
                content,
                FilePurpose.FINE_TUNE,
                filename=dataset.name,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        )
    with unit_of_work() as (session, current):
        return FineTuneJobRepository(session, current).update(
            job.idempotency_key,
            training_file_id=uploaded.value.id,
            provider_key_id=uploaded.key.key_id if uploaded.key else None,
        )


@task(
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=BACKOFF,
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_on_transient,
    timeout_seconds=TASK_TIMEOUT_SECONDS,
)
async def start_job(job: FineTuneJobRecord, plan: FineTunePlan) -> FineTuneJobRecord:
    """The provider job under this idempotency key: found if an earlier run made it, else created.

    The row stays locked meanwhile, so two runs of the same inputs cannot both create one. If
    the provider refuses the request (a request-scoped error, such as an unknown base model),
    the row is marked failed with the provider's reason and `FineTuneRefused` is raised; a
    re-run then starts the next attempt.
    """
    async with provider(job.provider, team()) as handle:
        with unit_of_work() as (session, current):
            jobs = FineTuneJobRepository(session, current)
            locked = jobs.lock(job.idempotency_key)
            if locked.provider_job_id is not None:
                return locked
            try:
                started = await _find_or_create(handle, locked, plan)
            except ProviderError as exc:
                if exc.scope is not FaultScope.REQUEST:
                    raise  # the key, the model or the network: retried, the row stays creating
                failed = jobs.update(
                    locked.idempotency_key, status=FineTuneStatus.FAILED.value, error=str(exc)
                )
                refusal = exc
            else:
                return jobs.update(
                    locked.idempotency_key,
                    provider_job_id=started.id,
                    status=FineTuneStatus(started.status.value).value,
                )
    # Raised once the transaction that records the failure has committed.
    raise FineTuneRefused(
        f"{failed.provider} refused to start the fine-tune job of {plan.model} from "
        f"{failed.base_model!r}: {failed.error}. Fix the input and run the flow again"
    ) from refusal


async def _find_or_create(
    handle: ProviderHandle, job: FineTuneJobRecord, plan: FineTunePlan
) -> FineTuneJob:
    """With the key that uploaded the file (it owns the file, so it must own the job)."""
    tuner = fine_tune_adapter(handle.adapter)
    found = await handle.call_pinned(
        job.provider_key_id,
        lambda credential: tuner.find_fine_tune(
            credential, job.idempotency_key, timeout=CALL_TIMEOUT_SECONDS
        ),
    )
    if found is not None:
        return found
    request = fine_tune_request(job, plan)
    return await handle.call_pinned(
        job.provider_key_id,
        lambda credential: tuner.create_fine_tune(
            credential, request, timeout=CALL_TIMEOUT_SECONDS
        ),
    )


def fine_tune_request(job: FineTuneJobRecord, plan: FineTunePlan) -> FineTuneRequest:
    if job.training_file_id is None:
        raise ValueError(f"fine-tune job {job.idempotency_key} has no uploaded training file")
    settings = dict(job.hyperparameters)
    seed = settings.pop("seed", None)
    return FineTuneRequest(
        model=job.base_model,
        training_file=job.training_file_id,
        hyperparameters=Hyperparameters.model_validate(settings),
        seed=seed if isinstance(seed, int) else None,
        suffix=plan.model[:SUFFIX_CHARS],
        idempotency_key=job.idempotency_key,
    )


class RegisterRequest(Frozen):
    """Which job's result to register, who registers it and from which flow run (ledger)."""

    plan: FineTunePlan
    idempotency_key: str
    actor: str
    flow_run_id: str | None = None


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_transient
)
def register_fine_tuned_version(request: RegisterRequest) -> ModelVersion:
    """Register the trained model with its lineage and move it to testing, in one transaction.

    A job whose version is already registered returns that version: no duplicate. If the
    model's policy names approvers for testing, the version stays in development.
    """
    with unit_of_work() as (session, current):
        jobs = FineTuneJobRepository(session, current)
        job = jobs.lock(request.idempotency_key)
        models = ModelRepository(session, current)
        if job.result_version_id is not None:
            return models.version_by_id(job.result_version_id)
        if job.status is not FineTuneStatus.SUCCEEDED or not job.trained_model_id:
            raise ValueError(f"fine-tune job {job.provider_job_id} has not succeeded")
        version = register_version(session, current, _new_version(request, job))
        jobs.update(request.idempotency_key, result_version_id=version.id)
        if testing_needs_approval(models, request.plan.model):
            return version  # the promote flow moves it, with the approvals
        return transition_stage(session, current, _to_testing(request, version, job)).version


def testing_needs_approval(models: ModelRepository, model: str) -> bool:
    """Whether the model's policy names approvers for entering testing."""
    testing = models.get(model).policy.get(Stage.TESTING.value)
    return testing is not None and bool(testing.approvers)


def _to_testing(
    request: RegisterRequest, version: ModelVersion, job: FineTuneJobRecord
) -> TransitionRequest:
    return TransitionRequest(
        model=request.plan.model,
        version=version.version,
        target=Stage.TESTING,
        actor=request.actor,
        reason="fine-tuned",
        expect=Stage.DEVELOPMENT,
        evidence={"fine_tune_job_id": job.provider_job_id, "dataset_sha256": job.dataset_sha256},
        flow_run_id=request.flow_run_id,
    )


def _new_version(request: RegisterRequest, job: FineTuneJobRecord) -> NewVersion:
    return NewVersion(
        model=request.plan.model,
        provider_model_id=job.trained_model_id or "",
        actor=request.actor,
        reason=f"fine-tuned from {job.base_model} by job {job.provider_job_id}",
        lineage=Lineage(
            parent_version=request.plan.parent_version,
            dataset_uri=job.dataset_uri,
            dataset_sha256=job.dataset_sha256,
            hyperparameters=job.hyperparameters,
            fine_tune_job_id=job.provider_job_id,
            provider_key_id=job.provider_key_id,
        ),
    )

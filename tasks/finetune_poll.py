"""Following a provider fine-tune job: poll it, keep its row current, publish its progress.

Everything seen is stored in the job's row as it arrives, so a retried or re-run poll carries
on from the last event it stored instead of starting over.
"""

from __future__ import annotations

import asyncio
import time

from prefect import get_run_logger, task
from prefect.artifacts import (
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from adapters.base import FineTuneAdapter
from adapters.jobs import FineTuneEvent, FineTuneJob, JobStatus
from adapters.registry import fine_tune_adapter
from dispatch.providers import ProviderHandle
from registry.domain import Frozen, JsonObject
from registry.finetune_jobs import FineTuneJobRecord, FineTuneJobRepository, FineTuneStatus
from tasks.context import provider, team, unit_of_work
from tasks.finetune import BACKOFF, RETRIES
from tasks.finetune_cancel import cancel_job, cancel_requested
from tasks.retry import CALL_TIMEOUT_SECONDS, retry_on_transient


class FineTuneCancelled(Exception):
    """The flow run was cancelled in Prefect while the job ran; the job was cancelled too."""


class FineTuneTimedOut(Exception):
    """The job did not finish within the flow's timeout; it is left running at the provider."""


class Watch(Frozen):
    """How to follow a job: the model (for artifact keys), poll interval and patience."""

    model: str
    poll_seconds: float
    timeout_seconds: float


def artifact_key(model: str, what: str) -> str:
    """Prefect artifact keys allow only lowercase letters, digits and dashes."""
    return f"fine-tune-{model}-{what}"


@task(
    cache_policy=NO_CACHE,
    retries=RETRIES,
    retry_delay_seconds=BACKOFF,
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_on_transient,
)
async def follow_job(job: FineTuneJobRecord, watch: Watch) -> FineTuneJobRecord:
    """Poll until the job ends, storing status, progress and events, updating the progress."""
    logger = get_run_logger()
    deadline = time.monotonic() + watch.timeout_seconds
    progress = await acreate_progress_artifact(
        percent(job),
        key=artifact_key(watch.model, "progress"),
        description=f"{watch.model}: fine-tune job {job.provider_job_id}",
    )
    async with provider(job.provider, team()) as handle:
        tuner = fine_tune_adapter(handle.adapter)
        while True:
            job, new_events = store_poll(job, *await poll(handle, tuner, job))
            for event in new_events:
                logger.info("%s [%s] %s", job.provider_job_id, event.level, event.message)
            await aupdate_progress_artifact(progress, percent(job))
            if job.status.is_terminal:
                return job
            if await cancel_requested():
                await cancel_job(handle, job)
                raise FineTuneCancelled(f"flow run cancelled; job {job.provider_job_id} too")
            if time.monotonic() >= deadline:
                raise FineTuneTimedOut(_timed_out(job, watch))
            await asyncio.sleep(watch.poll_seconds)


async def poll(
    handle: ProviderHandle, tuner: FineTuneAdapter, job: FineTuneJobRecord
) -> tuple[FineTuneJob, list[FineTuneEvent]]:
    """The job as the provider sees it, and its events newer than the last one stored."""
    job_id = job.provider_job_id or ""
    after = str(job.events[-1]["id"]) if job.events else None
    seen = await handle.call_pinned(
        job.provider_key_id,
        lambda credential: tuner.retrieve_fine_tune(
            credential, job_id, timeout=CALL_TIMEOUT_SECONDS
        ),
    )
    events = await handle.call_pinned(
        job.provider_key_id,
        lambda credential: tuner.list_fine_tune_events(
            credential, job_id, after=after, timeout=CALL_TIMEOUT_SECONDS
        ),
    )
    return seen, events


def store_poll(
    job: FineTuneJobRecord, seen: FineTuneJob, events: list[FineTuneEvent]
) -> tuple[FineTuneJobRecord, list[FineTuneEvent]]:
    """Write what one poll saw to the job's row; returns the row and the events new to it."""
    known = {str(event["id"]) for event in job.events}
    new = [event for event in events if event.id not in known]
    changes: dict[str, object] = {
        "status": FineTuneStatus(seen.status.value).value,
        "progress": 1.0 if seen.status is JobStatus.SUCCEEDED else seen.progress,
        "events": [*job.events, *(event.model_dump(mode="json") for event in new)],
        "error": seen.error.message if seen.error else None,
        "trained_model_id": seen.trained_model_id,
    }
    if seen.status is JobStatus.SUCCEEDED:
        changes["hyperparameters"] = effective_hyperparameters(job, seen)
    with unit_of_work() as (session, current):
        return FineTuneJobRepository(session, current).update(job.idempotency_key, **changes), new


def effective_hyperparameters(job: FineTuneJobRecord, seen: FineTuneJob) -> JsonObject:
    """What the job ran with: the request, with "auto" filled in from the provider's answer."""
    resolved = seen.hyperparameters.model_dump(mode="json", exclude_none=True)
    seed = {"seed": seen.seed} if seen.seed is not None else {}
    return {**job.hyperparameters, **resolved, **seed}


def percent(job: FineTuneJobRecord) -> float:
    return round(100.0 * (job.progress or 0.0), 1)


def _timed_out(job: FineTuneJobRecord, watch: Watch) -> str:
    return (
        f"fine-tune job {job.provider_job_id} is still {job.status} after "
        f"{watch.timeout_seconds:g}s; it keeps running at the provider. Run the flow again "
        "with the same parameters to carry on waiting for it, or cancel it"
    )


@task(cache_policy=NO_CACHE)
async def publish_job_report(job: FineTuneJobRecord, model: str) -> None:
    """A table artifact of the provider's events, newest last, for the Prefect UI."""
    rows = [
        {
            "time": str(event.get("created_at", "")),
            "level": str(event.get("level", "")),
            "message": str(event.get("message", "")),
        }
        for event in job.events
    ]
    await acreate_table_artifact(
        rows or [{"time": "", "level": "", "message": "the provider reported no events"}],
        key=artifact_key(model, "events"),
        description=(
            f"Fine-tune job {job.provider_job_id} ({job.provider}) ended {job.status}"
            + (f": {job.error}" if job.error else "")
        ),
    )

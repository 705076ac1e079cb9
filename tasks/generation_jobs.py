"""Tasks of the polling fallback: claim the jobs due, poll one job with the key that created
it, deliver the callback notices owed, and publish what a run did."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from prefect import task
from prefect.artifacts import acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from sqlalchemy.orm import Session

from dispatch.generation.callbacks import DeliveryReport, deliver_due
from dispatch.generation.handles import ProviderHandles
from dispatch.generation.polling import PollReport, poll_one
from dispatch.generation.runtime import JobsRuntime
from registry.generation.jobs import claim_due_jobs, to_record
from registry.generation.tables import GenerationJobRow
from tasks.context import database, keyring, settings
from tasks.retry import retry_on_transient

# A poll calls the provider once or twice (retrieve, maybe downloads) with its own timeouts.
TASK_TIMEOUT_SECONDS = 600


@asynccontextmanager
async def jobs_runtime() -> AsyncIterator[JobsRuntime]:
    """The job engine for one task run, with an HTTP client closed when it ends."""
    current = settings()
    sessions = database().sessions
    ring = keyring()
    async with httpx.AsyncClient() as client:
        handles = ProviderHandles(sessions, ring, client, current.data_dir)
        yield JobsRuntime(
            sessions,
            handles,
            ring,
            current.data_dir,
            public_url=current.public_url or None,
            http=client,
        )


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_transient
)
async def claim_due(limit: int) -> list[int]:
    """The ids of the open jobs due now, each leased to this run (a second run skips them)."""
    async with jobs_runtime() as runtime:
        now = runtime.clock()
        lease = runtime.timing.lease_seconds
        due = await runtime.tx(
            lambda session: claim_due_jobs(session, now=now, limit=limit, lease_seconds=lease)
        )
    return [job.id for job in due]


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_on_transient,
    timeout_seconds=TASK_TIMEOUT_SECONDS,
    task_run_name="poll-job-{job_id}",
)
async def poll_job(job_id: int) -> PollReport:
    """Poll one job (or fail it at its deadline); provider faults reschedule it, not fail it."""
    async with jobs_runtime() as runtime:

        def read(session: Session) -> GenerationJobRow:
            row = session.get(GenerationJobRow, job_id)
            if row is None:
                raise LookupError(f"no generation job {job_id}")
            return row

        job = await runtime.tx(lambda session: to_record(read(session)))
        return await poll_one(runtime, job)


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_transient
)
async def deliver_callbacks(limit: int) -> list[DeliveryReport]:
    async with jobs_runtime() as runtime:
        return await deliver_due(runtime, limit=limit)


@task(cache_policy=NO_CACHE)
async def publish_poll_report(polls: list[PollReport], deliveries: list[DeliveryReport]) -> None:
    rows = [
        {"job": p.job, "action": p.action.value, "status": p.status.value, "detail": p.detail[:200]}
        for p in polls
    ]
    rows += [
        {
            "job": f"callback of job {d.job_id}",
            "action": "callback",
            "status": d.status.value,
            "detail": str(d.status_code) if d.error is None else d.error[:200],
        }
        for d in deliveries
    ]
    await acreate_table_artifact(
        table=rows or [{"job": "-", "action": "nothing due", "status": "-", "detail": ""}],
        key="poll-generation-jobs",
        description=f"{len(polls)} job(s) polled, {len(deliveries)} callback(s) sent",
    )


__all__ = ["claim_due", "deliver_callbacks", "jobs_runtime", "poll_job", "publish_poll_report"]

"""Cancelling the flow cancels the provider job.

Prefect 3.8.8 delivers a cancellation in one of two ways (both verified against a server).
A deployment run executed by a worker gets SIGTERM; the worker then calls the flow's
`on_cancellation` hooks in its own process, where `cancel_provider_job` finds the job by the
flow run id and cancels it with the key that created it. A run called in-process gets no
signal: it would run on and see the cancellation only when its final state is refused, so
`follow_job` asks the API on every poll (`cancel_requested`) and cancels the job itself.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.context import FlowRunContext
from prefect.logging.loggers import flow_run_logger
from prefect.states import Cancelled

from adapters.registry import fine_tune_adapter
from dispatch.providers import ProviderHandle
from registry.finetune_jobs import FineTuneJobRecord, FineTuneJobRepository, FineTuneStatus
from tasks.context import current_flow_run_id, provider, unit_of_work
from tasks.retry import CALL_TIMEOUT_SECONDS


async def cancel_requested() -> bool:
    """Whether someone asked Prefect to cancel the current flow run."""
    run_id = current_flow_run_id()
    if run_id is None:
        return False
    async with get_client() as client:
        run = await client.read_flow_run(UUID(run_id))
    return run.state is not None and (run.state.is_cancelling() or run.state.is_cancelled())


async def cancel_job(handle: ProviderHandle, job: FineTuneJobRecord) -> FineTuneJobRecord:
    """Cancel the provider job (found by idempotency key if its id was never stored)."""
    tuner = fine_tune_adapter(handle.adapter)
    job_id = job.provider_job_id
    if job_id is None:
        found = await handle.call_pinned(
            job.provider_key_id,
            lambda credential: tuner.find_fine_tune(
                credential, job.idempotency_key, timeout=CALL_TIMEOUT_SECONDS
            ),
        )
        job_id = found.id if found else None
    status, error = FineTuneStatus.CANCELLED, "cancelled with the flow run"
    if job_id is not None:
        seen = await handle.call_pinned(
            job.provider_key_id,
            lambda credential: tuner.cancel_fine_tune(
                credential, job_id, timeout=CALL_TIMEOUT_SECONDS
            ),
        )
        # A job that finished before the cancel arrived keeps its real outcome.
        status = FineTuneStatus(seen.status.value)
        error = seen.error.message if seen.error else error
    with unit_of_work() as (session, current):
        return FineTuneJobRepository(session, current).update(
            job.idempotency_key, provider_job_id=job_id, status=status.value, error=error
        )


async def cancel_provider_job(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """`on_cancellation` hook: cancel the provider job that the cancelled run was following."""
    logger = flow_run_logger(flow_run, flow)
    with unit_of_work() as (session, current):
        job = FineTuneJobRepository(session, current).find_by_flow_run(str(flow_run.id))
    if job is None or job.status.is_terminal:
        logger.info("no unfinished fine-tune job belongs to this run: nothing to cancel")
    else:
        async with provider(job.provider, current) as handle:
            job = await cancel_job(handle, job)
        logger.info("fine-tune job %s is now %s", job.provider_job_id, job.status)
    await _finish_in_process(flow_run)


async def _finish_in_process(flow_run: FlowRun) -> None:
    """Mark an in-process run Cancelled: without a runner, nothing else moves it on."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow_run.id != flow_run.id:
        return  # a runner or worker supervises this run and finalises its state
    async with get_client() as client:
        await client.set_flow_run_state(
            flow_run.id, Cancelled(message="fine-tune cancelled"), force=True
        )

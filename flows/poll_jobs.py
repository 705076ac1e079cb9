"""poll-generation-jobs: the fallback for webhooks that never come. Claim the generation jobs
whose next poll (or deadline) is due → poll each with the key that created it → send the
callback notices owed → publish what was done.

Scheduled every minute, one run at a time (prefect.yaml); jobs are leased in the database
too, so even two runs never poll one job twice.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from dispatch.generation.polling import PollAction
from flows.params import PollJobsParams
from registry.domain import Frozen
from tasks.generation_jobs import claim_due, deliver_callbacks, poll_job, publish_poll_report


class PollJobsOutcome(Frozen):
    polled: int
    ended: int  # completed, failed or cancelled by this run
    deferred: int  # the provider could not answer; polled again later
    callbacks: int


@flow(
    name="poll-generation-jobs",
    flow_run_name="poll-generation-jobs",
    description="Poll generation jobs that heard nothing past their deadline (with the key "
    "that created them), fail those past their maximum age, send the callbacks owed.",
)
async def poll_generation_jobs(params: PollJobsParams | None = None) -> PollJobsOutcome:
    params = params or PollJobsParams()
    logger = get_run_logger()
    due = await claim_due(params.limit)
    polls = [await poll_job(job_id) for job_id in due]
    deliveries = await deliver_callbacks(params.limit)
    await publish_poll_report(polls, deliveries)
    ended = sum(1 for p in polls if p.status.is_terminal)
    deferred = sum(1 for p in polls if p.action is PollAction.DEFERRED)
    logger.info("%d job(s) polled, %d ended, %d deferred", len(polls), ended, deferred)
    return PollJobsOutcome(
        polled=len(polls), ended=ended, deferred=deferred, callbacks=len(deliveries)
    )

"""Polling and cancelling with the key that created the job, and the deadlines: the fallback
that settles a job whose webhook never came, and fails one that never ends.

A poll honours the provider's Retry-After (the next poll waits that long) and its poll hint;
other faults push the next poll out by the usual schedule. Every poll says what it did.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from adapters.errors import ProviderError, RateLimitedError
from adapters.registry import generation_adapter, generation_canceller
from dispatch.generation.observe import Applied, end_job, observe
from dispatch.generation.runtime import JobsRuntime, team_of
from dispatch.generation.submit import recover
from dispatch.keyed_call import CallFailedError
from registry.domain import Frozen, Team
from registry.errors import RegistryError
from registry.generation.domain import GenerationJobRecord, JobFailure, JobStatus
from registry.generation.jobs import claim_due_jobs
from registry.generation.transitions import next_poll_delay


class PollAction(StrEnum):
    POLLED = "polled"  # asked the provider; `changes` says what moved
    EXPIRED = "expired"  # past its maximum age: failed with the reason
    UNCONFIRMED = "unconfirmed"  # a create in doubt nobody confirmed: failed with the reason
    RECOVERED = "recovered"  # a create in doubt, found by the provider's lookup
    WAITING = "waiting"  # in doubt, nothing to ask yet: checked again at its deadline
    DEFERRED = "deferred"  # the provider could not answer now; the next poll is scheduled


class PollReport(Frozen):
    job: str
    team_id: int
    action: PollAction
    status: JobStatus
    detail: str = ""


class CancelUnsupportedError(Exception):
    """The provider has no way to cancel a job (answer 409: the job goes on)."""


async def refresh(
    runtime: JobsRuntime, team: Team, job: GenerationJobRecord, *, heard: bool = False
) -> Applied:
    """Ask the provider about the job with its creating key, and merge the answer (`heard`:
    a webhook named the job, so the next poll can wait)."""
    if job.provider_job_id is None or job.status.is_terminal:
        return Applied(job, {})
    handle = runtime.handles.handle(team, job.provider)
    reader = generation_adapter(handle.adapter)
    provider_job_id = job.provider_job_id
    seen = await handle.call_pinned(
        job.provider_key_id,
        lambda credential: reader.retrieve_generation(
            credential, provider_job_id, timeout=runtime.call_timeout_seconds
        ),
        model=job.provider_model_id,
    )
    return await observe(runtime, handle, job, seen, heard=heard)


async def cancel(runtime: JobsRuntime, team: Team, job: GenerationJobRecord) -> GenerationJobRecord:
    """Cancel with the creating key. An ended job is returned as it is; one the provider never
    got is cancelled here; one in doubt cannot be cancelled until the provider names it."""
    if job.status.is_terminal:
        return job
    if job.unsent:
        return await end_job(runtime, job, JobStatus.CANCELLED, None)
    handle = runtime.handles.handle(team, job.provider)
    canceller = generation_canceller(handle.adapter)
    if canceller is None:
        raise CancelUnsupportedError(f"{job.provider} cannot cancel a job; it will run to its end")
    if job.provider_job_id is None:
        raise CancelUnsupportedError(
            f"job {job.public_id} is not confirmed by {job.provider} yet; cancel it once it is"
        )
    provider_job_id = job.provider_job_id
    seen = await handle.call_pinned(
        job.provider_key_id,
        lambda credential: canceller.cancel_generation(
            credential, provider_job_id, timeout=runtime.call_timeout_seconds
        ),
        model=job.provider_model_id,
    )
    return (await observe(runtime, handle, job, seen, heard=False)).job


async def poll_due(runtime: JobsRuntime, *, limit: int = 100) -> list[PollReport]:
    """Every open job whose next poll or deadline is due, each handled once."""
    now = runtime.clock()
    lease = runtime.timing.lease_seconds
    due = await runtime.tx(lambda s: claim_due_jobs(s, now=now, limit=limit, lease_seconds=lease))
    return [await poll_one(runtime, job) for job in due]


async def poll_one(runtime: JobsRuntime, job: GenerationJobRecord) -> PollReport:
    team = await runtime.tx(lambda session: team_of(session, job.team_id))
    now = runtime.clock()
    if job.expires_at <= now:
        seconds = runtime.timing.max_age_seconds
        reason = f"no result within the job's maximum age of {seconds:g}s"
        return await _ended(runtime, job, PollAction.EXPIRED, "max_age_exceeded", reason)
    if job.provider_job_id is None:
        return await _unconfirmed(runtime, team, job)
    try:
        polled = (await refresh(runtime, team, job)).job
    except RateLimitedError as exc:
        wait = exc.retry_after if exc.retry_after is not None else None
        return await _deferred(runtime, team, job, str(exc), wait)
    except (ProviderError, CallFailedError, RegistryError) as exc:
        return await _deferred(runtime, team, job, str(exc), None)
    return _report(polled, PollAction.POLLED, polled.raw_status or "")


async def _unconfirmed(runtime: JobsRuntime, team: Team, job: GenerationJobRecord) -> PollReport:
    if job.in_doubt:
        try:
            recovered = await recover(runtime, team, job)
        except (ProviderError, CallFailedError, RegistryError) as exc:
            return await _deferred(runtime, team, job, str(exc), None)
        if recovered.provider_job_id is not None:
            return _report(recovered, PollAction.RECOVERED, recovered.provider_job_id)
    now = runtime.clock()
    if job.confirm_by is not None and job.confirm_by > now:
        await runtime.jobs(
            team, lambda jobs: jobs.change(job.id, {"next_poll_at": job.confirm_by}, now=now)
        )
        return _report(job, PollAction.WAITING, f"until {job.confirm_by.isoformat()}")
    if job.in_doubt:
        reason = (
            f"{job.provider} never confirmed the job it may have accepted (attempt "
            f"{job.attempts}); it was not sent again, so no second job could be made"
        )
    else:
        reason = f"the job was never sent to {job.provider}: no key could send it in time"
    return await _ended(runtime, job, PollAction.UNCONFIRMED, "not_confirmed", reason)


async def _ended(
    runtime: JobsRuntime, job: GenerationJobRecord, action: PollAction, code: str, reason: str
) -> PollReport:
    last = f" (last provider state: {job.raw_status})" if job.raw_status else ""
    failure = JobFailure(code=code, message=f"{reason}{last}")
    ended = await end_job(runtime, job, JobStatus.FAILED, failure)
    return _report(ended, action, failure.message)


async def _deferred(
    runtime: JobsRuntime,
    team: Team,
    job: GenerationJobRecord,
    detail: str,
    retry_after: float | None,
) -> PollReport:
    now = runtime.clock()
    delay = next_poll_delay(job, None, now=now, timing=runtime.timing, heard=False)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    at = now + delay
    await runtime.jobs(team, lambda jobs: jobs.change(job.id, {"next_poll_at": at}, now=now))
    return _report(job, PollAction.DEFERRED, f"{detail[:300]}; next poll at {at.isoformat()}")


def _report(job: GenerationJobRecord, action: PollAction, detail: str) -> PollReport:
    return PollReport(
        job=job.public_id, team_id=job.team_id, action=action, status=job.status, detail=detail
    )


__all__ = [
    "CancelUnsupportedError",
    "PollAction",
    "PollReport",
    "cancel",
    "poll_due",
    "poll_one",
    "refresh",
]

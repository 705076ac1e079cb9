"""Creating the provider's job for a generation job, once.

The job's row exists before anything is sent. Each attempt is reserved in the database with
the key it will use, before it is sent; an attempt the provider refused is released (another
key may try); one that may have been accepted (no answer in time, an answer we could not
read) stays reserved: the create is in doubt and is never sent again blindly. A job in doubt
is resolved by the provider's lookup where it has one (then sent again only if the provider
has no such job), by a webhook naming the job, or failed at its confirmation deadline.
"""

from __future__ import annotations

import httpx
from pydantic import TypeAdapter

from adapters.base import Credential
from adapters.errors import (
    FaultScope,
    ProtocolError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
)
from adapters.generation import GenerationJob, GenerationRequest
from adapters.registry import generation_adapter, generation_lookup
from dispatch.generation.observe import end_job, observe
from dispatch.generation.runtime import JobsRuntime
from dispatch.providers import ProviderHandle
from registry.domain import Team
from registry.generation.domain import GenerationJobRecord, JobFailure, JobStatus
from registry.generation.transitions import next_poll_delay

REQUEST: TypeAdapter[GenerationRequest] = TypeAdapter(GenerationRequest)
# Faults raised before a byte of the request left: certainly not accepted.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class CreationInDoubt(Exception):
    """The provider may have accepted the create. Not a ProviderError, so the key pool does
    not fail over to another key (which would make a second job)."""


class AttemptTaken(Exception):
    """Another caller holds the job's current attempt (or it is in doubt already)."""


def maybe_accepted(error: ProviderError) -> bool:
    """Could the provider have made the job although the call failed?"""
    if error.status_code is not None and not 200 <= error.status_code < 300:
        return False  # the provider answered with an error: it made nothing
    if isinstance(error, ProtocolError):
        return True  # it answered, but not in a shape we could read
    if isinstance(error, ProviderTimeoutError | ProviderConnectionError):
        return not isinstance(error.__cause__, _NEVER_SENT)
    return False


async def submit(runtime: JobsRuntime, team: Team, job: GenerationJobRecord) -> GenerationJobRecord:
    """The job with its provider job made (or in doubt). A request-scoped refusal fails the
    job and is raised; when no key could send it, the pool's error is raised and the job
    stays unsent, so a retry of the same create sends it."""
    if job.in_doubt:
        return await recover(runtime, team, job)
    if not job.unsent:
        return job
    handle = runtime.handles.handle(team, job.provider)
    try:
        created = await handle.call(
            _Sender(runtime, team, job, handle), model=job.provider_model_id
        )
    except (CreationInDoubt, AttemptTaken):
        return await runtime.jobs(team, lambda jobs: jobs.by_id(job.id))
    except ProviderError as exc:
        if exc.scope is FaultScope.REQUEST:
            await end_job(runtime, job, JobStatus.FAILED, _refusal(exc))
        raise
    key_id = created.key.key_id if created.key is not None else None
    return await adopt(runtime, handle, team, job, created.value, key_id=key_id)


class _Sender:
    """One create, as the key pool calls it with each key it tries: reserve the next attempt
    (recording the key), then send; release the attempt only if the provider refused it."""

    def __init__(
        self, runtime: JobsRuntime, team: Team, job: GenerationJobRecord, handle: ProviderHandle
    ) -> None:
        self._runtime, self._team, self._job = runtime, team, job
        self._creator = generation_adapter(handle.adapter)
        self._request = REQUEST.validate_python(job.request)
        self._callback_url = runtime.provider_callback_url(job)
        self._attempt = job.attempts

    async def __call__(self, credential: Credential) -> GenerationJob:
        runtime, job = self._runtime, self._job
        key_id = int(credential.key_id) if credential.key_id else None
        expected = self._attempt
        if not await runtime.jobs(
            self._team,
            lambda jobs: jobs.reserve_attempt(
                job.id, expected_attempts=expected, key_id=key_id, now=runtime.clock()
            ),
        ):
            raise AttemptTaken(f"job {job.public_id}: its attempt is taken or in doubt")
        self._attempt += 1
        try:
            return await self._creator.create_generation(
                credential,
                self._request,
                self._callback_url,
                idempotency_key=job.public_id,
                timeout=runtime.call_timeout_seconds,
            )
        except ProviderError as exc:
            if maybe_accepted(exc):
                raise CreationInDoubt(str(exc)) from exc
            now = runtime.clock()
            await runtime.jobs(self._team, lambda jobs: jobs.release_attempt(job.id, now=now))
            raise


async def recover(
    runtime: JobsRuntime, team: Team, job: GenerationJobRecord
) -> GenerationJobRecord:
    """Resolve a create in doubt by the provider's lookup (with the key the attempt used).
    Without a lookup the job waits for a webhook that names it, or its deadline."""
    handle = runtime.handles.handle(team, job.provider)
    lookup = generation_lookup(handle.adapter)
    if lookup is None:
        return job
    found = await handle.call_pinned(
        job.provider_key_id,
        lambda credential: lookup.find_generation(
            credential, job.public_id, timeout=runtime.call_timeout_seconds
        ),
        model=job.provider_model_id,
    )
    if found is not None:
        return await adopt(runtime, handle, team, job, found, key_id=job.provider_key_id)
    await runtime.jobs(team, lambda jobs: jobs.release_attempt(job.id, now=runtime.clock()))
    return await submit(runtime, team, await runtime.jobs(team, lambda jobs: jobs.by_id(job.id)))


async def adopt(
    runtime: JobsRuntime,
    handle: ProviderHandle,
    team: Team,
    job: GenerationJobRecord,
    provider_job: GenerationJob,
    *,
    key_id: int | None,
) -> GenerationJobRecord:
    """Record the provider's job as this job's, then what it says about itself."""
    now = runtime.clock()
    poll_at = now + next_poll_delay(job, None, now=now, timing=runtime.timing, heard=False)
    adopted = await runtime.jobs(
        team,
        lambda jobs: jobs.adopt(
            job.id, provider_job_id=provider_job.id, key_id=key_id, now=now, poll_at=poll_at
        ),
    )
    return (await observe(runtime, handle, adopted, provider_job, heard=False)).job


def _refusal(error: ProviderError) -> JobFailure:
    return JobFailure(code=(error.code or "provider_refused")[:64], message=str(error)[:4000])


__all__ = ["AttemptTaken", "CreationInDoubt", "adopt", "maybe_accepted", "recover", "submit"]

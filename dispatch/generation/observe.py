"""Applying what a provider says about a job: outputs that need the job's key are fetched
with it and stored, then the observation is merged in one transaction. The transaction that
ends a job also writes its outcome and owes its callback notice, so neither is lost nor
doubled however many webhooks and polls report the end."""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import JsonValue
from sqlalchemy.orm import Session

from adapters.generation import GeneratedAsset, GenerationJob
from adapters.registry import generation_downloader
from dispatch.generation.outcomes import job_outcome
from dispatch.generation.runtime import STATUS_OF, JobsRuntime, owner_of
from dispatch.providers import ProviderHandle
from registry.endpoints.tables import EndpointRow
from registry.generation.artifacts import MAX_ARTIFACT_BYTES
from registry.generation.callbacks import schedule_callback
from registry.generation.documents import event_type, job_document
from registry.generation.domain import (
    GenerationJobRecord,
    JobFailure,
    JobStatus,
    Observation,
    ResultAsset,
)
from registry.generation.jobs import GenerationJobRepository
from registry.generation.transitions import describe, merge
from registry.outcomes import store_outcomes
from registry.tables import ModelVersionRow
from registry.usage.prices import load_prices


@dataclass(frozen=True)
class Applied:
    job: GenerationJobRecord
    changes: dict[str, JsonValue]  # what changed, `[old, new]` (empty: nothing)


async def observe(
    runtime: JobsRuntime,
    handle: ProviderHandle,
    job: GenerationJobRecord,
    seen: GenerationJob,
    *,
    heard: bool,
) -> Applied:
    """Merge `seen` into `job`. `heard`: it came by webhook (the next poll can wait)."""
    observation = await _observation(runtime, handle, job, seen)
    return await runtime.tx(lambda session: _apply(runtime, session, job, observation, heard))


async def _observation(
    runtime: JobsRuntime, handle: ProviderHandle, job: GenerationJobRecord, seen: GenerationJob
) -> Observation:
    status = STATUS_OF[seen.status]
    result: list[ResultAsset] = []
    if status.is_terminal and not job.status.is_terminal and seen.outputs:
        result = [await _stored(runtime, handle, job, i, a) for i, a in enumerate(seen.outputs)]
    error = None
    if seen.error is not None:
        error = JobFailure(code=seen.error.code[:64], message=seen.error.message[:4000])
    return Observation(
        status=status,
        raw_status=None if seen.raw_status is None else seen.raw_status[:64],
        progress=seen.progress,
        result=result,
        error=error,
        poll_after_seconds=seen.poll_after_seconds,
    )


async def _stored(
    runtime: JobsRuntime,
    handle: ProviderHandle,
    job: GenerationJobRecord,
    index: int,
    asset: GeneratedAsset,
) -> ResultAsset:
    """A provider URL is kept as it is; content behind the job's key is fetched and stored."""
    if not asset.download:
        return ResultAsset(
            url=asset.url,
            content_type=asset.content_type,
            duration_seconds=asset.duration_seconds,
            text=asset.text,
        )
    downloader = generation_downloader(handle.adapter)
    if downloader is None or job.provider_job_id is None:
        raise ValueError(f"{job.provider} marks an output to download but cannot download it")
    scratch = runtime.artifacts.scratch()
    provider_job_id = job.provider_job_id
    got = await handle.call_pinned(
        job.provider_key_id,
        lambda credential: downloader.download_generation(
            credential,
            provider_job_id,
            index,
            scratch,
            max_bytes=MAX_ARTIFACT_BYTES,
            timeout=runtime.call_timeout_seconds,
        ),
        model=job.provider_model_id,
    )
    kept = runtime.artifacts.keep(scratch, got.sha256)
    duration = asset.duration_seconds
    if duration is None and got.content_type in {"audio/wav", "audio/x-wav"}:
        duration = _wav_seconds(kept)
    return ResultAsset(
        stored=True,
        content_type=got.content_type,
        size_bytes=got.size_bytes,
        sha256=got.sha256,
        duration_seconds=duration,
    )


def _apply(
    runtime: JobsRuntime,
    session: Session,
    job: GenerationJobRecord,
    observation: Observation,
    heard: bool,
) -> Applied:
    jobs = GenerationJobRepository(session, owner_of(job))
    current = jobs.lock(job.id)
    now = runtime.clock()
    changes: dict[str, Any] = merge(
        current, observation, now=now, timing=runtime.timing, heard=heard
    )
    if heard and not current.status.is_terminal:
        changes["last_heard_at"] = now
    shown = describe(current, changes)
    updated = jobs.change(job.id, changes, now=now)
    if updated.status.is_terminal and not current.status.is_terminal:
        settle(runtime, session, updated)
    return Applied(updated, shown)


async def end_job(
    runtime: JobsRuntime,
    job: GenerationJobRecord,
    status: JobStatus,
    failure: JobFailure | None,
) -> GenerationJobRecord:
    """End a job here (a refusal, an expiry, a cancel before the provider had it), with what
    ending owes; a job that has ended already is left as it is."""

    def step(session: Session) -> GenerationJobRecord:
        jobs = GenerationJobRepository(session, owner_of(job))
        current = jobs.lock(job.id)
        if current.status.is_terminal:
            return current
        ended = jobs.end(job.id, status, failure, now=runtime.clock())
        settle(runtime, session, ended)
        return ended

    return await runtime.tx(step)


def settle(runtime: JobsRuntime, session: Session, job: GenerationJobRecord) -> None:
    """What ending a job owes, in the transaction that ends it: its outcome, and its
    callback notice if it named a callback URL."""
    version = session.get(ModelVersionRow, job.model_version_id)
    prices = load_prices(session, [version.model_id]) if version is not None else {}
    model_prices = prices.get(version.model_id, ()) if version is not None else ()
    store_outcomes(session, [job_outcome(job, model_prices)])
    if job.callback_url is None:
        return
    endpoint = session.get(EndpointRow, job.endpoint_id)
    document = job_document(
        job, endpoint=endpoint.name if endpoint else "", base_url=runtime.public_url or ""
    )
    at = runtime.clock()
    payload = {"type": event_type(job.status), "timestamp": at.isoformat(), "data": document}
    schedule_callback(
        session,
        team_id=job.team_id,
        job_id=job.id,
        url=job.callback_url,
        webhook_id=f"msg_{job.public_id}",
        payload=json.dumps(payload, separators=(",", ":")).encode(),
        now=at,
    )


def _wav_seconds(path: Path) -> float | None:
    try:
        with wave.open(str(path), "rb") as wav:
            return round(wav.getnframes() / wav.getframerate(), 3)
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


__all__ = ["Applied", "end_job", "observe", "settle"]

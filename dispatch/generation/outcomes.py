"""The outcome a generation job leaves when it ends, as a chat request leaves one: keyed by
the job's id, so however often the end is reported it is counted once. Its latency is the
job's duration (created → ended); its billable units (`job_units`: images, seconds of
audio or video output) ride along as the outcome's named metrics, so the rollups sum them
per endpoint, version and minute.

Cost: `job_cost` is the one place a job's price is computed: the catalog price in force
when the job was created (`registry.usage.pricing`) times `job_units(job)`, plus its price
per request. Only a completed job costs anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.categories import Category
from registry.generation.domain import GenerationJobRecord, JobStatus
from registry.outcomes import Outcome
from registry.outcomes.domain import ERROR_CLASS, MAX_LATENCY_MS
from registry.usage.pricing import Metered, Price, price_outcome

IMAGE_CATEGORIES = frozenset({Category.TEXT_TO_IMAGE, Category.IMAGE_TO_IMAGE})
# The outcome metrics a job's units are recorded under.
IMAGES = "images"
OUTPUT_SECONDS = "output_seconds"


@dataclass(frozen=True)
class JobCost:
    micro_usd: int = 0
    price_id: int | None = None


def job_units(job: GenerationJobRecord) -> dict[str, float]:
    """What a completed job made, in the units providers price by: `images` for the image
    categories; `output_seconds` of audio or video, from the outputs' durations (else the
    duration the request asked for). A job that failed or was cancelled made nothing."""
    if job.status is not JobStatus.COMPLETED:
        return {}
    if job.category in IMAGE_CATEGORIES:
        return {IMAGES: float(len(job.result))}
    known = [a.duration_seconds for a in job.result if a.duration_seconds is not None]
    asked = job.request.get("duration_seconds")
    if known:
        return {OUTPUT_SECONDS: round(sum(known), 3)}
    if isinstance(asked, int | float) and not isinstance(asked, bool):
        return {OUTPUT_SECONDS: float(asked)}
    return {}


def job_cost(job: GenerationJobRecord, prices: Sequence[Price] = ()) -> JobCost:
    """What the job cost under `prices` (its model's): nothing unless it completed."""
    if job.status is not JobStatus.COMPLETED:
        return JobCost()
    units = job_units(job)
    used = Metered(seconds=units.get(OUTPUT_SECONDS, 0.0), images=int(units.get(IMAGES, 0)))
    cost = price_outcome(prices, job.version, job.created_at, used)
    return JobCost(cost.micro_usd, cost.price_id)


def job_outcome(job: GenerationJobRecord, prices: Sequence[Price] = ()) -> Outcome:
    if job.finished_at is None:
        raise ValueError(f"job {job.public_id} has not ended")
    elapsed_ms = (job.finished_at - job.created_at).total_seconds() * 1000.0
    success = job.status is JobStatus.COMPLETED
    cost = job_cost(job, prices)
    return Outcome(
        request_id=job.public_id,
        team_id=job.team_id,
        endpoint_id=job.endpoint_id,
        model_version_id=job.model_version_id,
        at=job.created_at,
        latency_ms=min(max(elapsed_ms, 0.0), MAX_LATENCY_MS),
        success=success,
        error_class=None if success else _error_class(job),
        cost_micro_usd=cost.micro_usd,
        price_id=cost.price_id,
        metrics=job_units(job),
        provider_key_id=job.provider_key_id,
    )


def _error_class(job: GenerationJobRecord) -> str:
    if job.status is JobStatus.CANCELLED:
        return "cancelled"
    code = job.error.code if job.error is not None else ""
    return code if ERROR_CLASS.fullmatch(code) else "failed"


__all__ = ["IMAGES", "OUTPUT_SECONDS", "JobCost", "job_cost", "job_outcome", "job_units"]

"""The outcome a generation job leaves when it ends, as a chat request leaves one: keyed by
the job's id, so however often the end is reported it is counted once.

Cost: `job_cost` is the one place a job's price is computed: the catalog price in force
when the job was created (`registry.usage.pricing`), per request, per image produced and
per second of audio or video produced. Only a completed job costs anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from registry.generation.domain import GenerationJobRecord, JobStatus
from registry.outcomes import Outcome
from registry.outcomes.domain import ERROR_CLASS, MAX_LATENCY_MS
from registry.usage.pricing import Metered, Price, price_outcome


@dataclass(frozen=True)
class JobCost:
    micro_usd: int = 0
    price_id: int | None = None


def job_cost(job: GenerationJobRecord, prices: Sequence[Price] = ()) -> JobCost:
    """What the job cost under `prices` (its model's): nothing unless it completed."""
    if job.status is not JobStatus.COMPLETED:
        return JobCost()
    seconds = sum(asset.duration_seconds or 0.0 for asset in job.result)
    images = len(job.result) if job.category.endswith("-image") else 0
    cost = price_outcome(
        prices, job.version, job.created_at, Metered(seconds=seconds, images=images)
    )
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
        provider_key_id=job.provider_key_id,
    )


def _error_class(job: GenerationJobRecord) -> str:
    if job.status is JobStatus.CANCELLED:
        return "cancelled"
    code = job.error.code if job.error is not None else ""
    return code if ERROR_CLASS.fullmatch(code) else "failed"


__all__ = ["JobCost", "job_cost", "job_outcome"]

"""The outcome a generation job leaves when it ends, as a chat request leaves one: keyed by
the job's id, so however often the end is reported it is counted once.

Cost: `job_cost` is the one place a job's price is computed. Until the price table exists
(per image, per second, per request: DESIGN §3, usage and budgets) it is 0 with no price id.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.generation.domain import GenerationJobRecord, JobStatus
from registry.outcomes import Outcome
from registry.outcomes.domain import ERROR_CLASS, MAX_LATENCY_MS


@dataclass(frozen=True)
class JobCost:
    micro_usd: int = 0
    price_id: int | None = None


def job_cost(job: GenerationJobRecord) -> JobCost:
    """What the job cost. The hook for the price table: read the provider model's price
    (per output, per second of `duration_seconds`, or per request) and multiply."""
    return JobCost()


def job_outcome(job: GenerationJobRecord) -> Outcome:
    if job.finished_at is None:
        raise ValueError(f"job {job.public_id} has not ended")
    elapsed_ms = (job.finished_at - job.created_at).total_seconds() * 1000.0
    success = job.status is JobStatus.COMPLETED
    cost = job_cost(job)
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
    )


def _error_class(job: GenerationJobRecord) -> str:
    if job.status is JobStatus.CANCELLED:
        return "cancelled"
    code = job.error.code if job.error is not None else ""
    return code if ERROR_CLASS.fullmatch(code) else "failed"


__all__ = ["JobCost", "job_cost", "job_outcome"]

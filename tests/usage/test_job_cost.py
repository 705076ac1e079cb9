"""A generation job is priced when it ends, as served requests are: per request, per image
produced, per second of output, with the price in force when it was created."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatch.generation.outcomes import job_cost
from registry.generation.domain import GenerationJobRecord, JobStatus, ResultAsset
from registry.usage.pricing import Price

T0 = datetime(2026, 6, 1, tzinfo=UTC)
# $0.01 a request, $0.04 an image, $0.002 a second of video.
PRICE = Price(
    id=9, model_id=1, versions=None, effective_from=T0, per_request_pico=10**10,
    per_image_pico=4 * 10**10, per_second_pico=2 * 10**9,
)  # fmt: skip


def _job(status: JobStatus, category: str, assets: list[ResultAsset]) -> GenerationJobRecord:
    return GenerationJobRecord.model_construct(
        status=status, category=category, result=assets, version=1, created_at=T0, request={}
    )


def test_a_completed_image_job_costs_its_request_and_each_image() -> None:
    job = _job(JobStatus.COMPLETED, "text-to-image", [ResultAsset(), ResultAsset()])
    cost = job_cost(job, [PRICE])
    assert (cost.micro_usd, cost.price_id) == (90_000, 9)  # $0.01 + 2 x $0.04


def test_a_video_job_costs_its_seconds_and_a_failed_job_nothing() -> None:
    video = [ResultAsset(duration_seconds=12.5)]
    done = job_cost(_job(JobStatus.COMPLETED, "text-to-video", video), [PRICE])
    assert (done.micro_usd, done.price_id) == (35_000, 9)  # $0.01 + 12.5 x $0.002
    failed = job_cost(_job(JobStatus.FAILED, "text-to-video", video), [PRICE])
    assert (failed.micro_usd, failed.price_id) == (0, None)

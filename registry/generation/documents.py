"""A generation job as clients see it: the JSON of `GET /v1/jobs/{id}`, also the `data` of
the callback notice sent when it ends. Stored content is named by a URL the gateway serves."""

from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue

from registry.generation.domain import GenerationJobRecord, JobStatus, ResultAsset

OBJECT = "generation.job"


def job_document(
    job: GenerationJobRecord, *, endpoint: str, base_url: str = ""
) -> dict[str, JsonValue]:
    """`base_url` prefixes the content URLs of stored outputs (empty: a path on the gateway)."""
    return {
        "object": OBJECT,
        "id": job.public_id,
        "endpoint": endpoint,
        "version": job.version,
        "category": job.category,
        "status": job.status.value,
        "provider_status": job.raw_status,
        "progress": job.progress,
        "created_at": _unix(job.created_at),
        "updated_at": _unix(job.updated_at),
        "finished_at": _unix(job.finished_at),
        "idempotency_key": job.idempotency_key,
        "request": job.request,
        "result": _result(job, base_url),
        "error": None if job.error is None else job.error.model_dump(mode="json"),
    }


def content_path(public_id: str, index: int) -> str:
    return f"/v1/jobs/{public_id}/content/{index}"


def event_type(status: JobStatus) -> str:
    """The callback notice's `type`: `generation.job.completed` and so on."""
    return f"{OBJECT}.{status.value}"


def _result(job: GenerationJobRecord, base_url: str) -> dict[str, JsonValue] | None:
    if job.status is not JobStatus.COMPLETED:
        return None
    return {"assets": [_asset(job.public_id, i, a, base_url) for i, a in enumerate(job.result)]}


def _asset(public_id: str, index: int, asset: ResultAsset, base_url: str) -> dict[str, JsonValue]:
    url = f"{base_url}{content_path(public_id, index)}" if asset.stored else asset.url
    shown: dict[str, JsonValue] = {
        "url": url,
        "content_type": asset.content_type,
        "size_bytes": asset.size_bytes,
        "sha256": asset.sha256,
        "duration_seconds": asset.duration_seconds,
    }
    if asset.text is not None:
        shown["text"] = asset.text
    return shown


def _unix(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


__all__ = ["OBJECT", "content_path", "event_type", "job_document"]

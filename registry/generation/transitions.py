"""How an observation of the provider's job changes ours: the one rule, pure.

State only moves forward (pending → processing → an end), an ended job never changes again,
and progress only grows; so a webhook delivered twice, or a poll answered after a newer
webhook, changes the job once. The next poll is scheduled from the job's age and the
provider's hint.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import JsonValue

from registry.generation.domain import GenerationJobRecord, JobTiming, Observation


def merge(
    job: GenerationJobRecord,
    seen: Observation,
    *,
    now: datetime,
    timing: JobTiming,
    heard: bool,
) -> dict[str, Any]:
    """The column changes `seen` makes to `job` (empty: nothing changes). `heard` is True
    for a webhook: the provider spoke, so the next poll can wait longer."""
    if job.status.is_terminal:
        return {}
    changes: dict[str, Any] = {}
    if seen.status.rank > job.status.rank:
        changes["status"] = seen.status.value
    if seen.status.rank >= job.status.rank and seen.raw_status not in (None, job.raw_status):
        changes["raw_status"] = seen.raw_status
    if seen.progress is not None and (job.progress is None or seen.progress > job.progress):
        changes["progress"] = seen.progress
    if seen.status.is_terminal:
        changes.update(
            result=[asset.model_dump(mode="json") for asset in seen.result],
            error=None if seen.error is None else seen.error.model_dump(mode="json"),
            finished_at=now,
            next_poll_at=None,
        )
    elif changes or heard:
        changes["next_poll_at"] = now + next_poll_delay(
            job, seen, now=now, timing=timing, heard=heard
        )
    return changes


def next_poll_delay(
    job: GenerationJobRecord,
    seen: Observation | None,
    *,
    now: datetime,
    timing: JobTiming,
    heard: bool,
) -> timedelta:
    """A tenth of the job's age, within [first poll, max interval]; after a webhook at least
    the quiet period; never before the provider's own hint."""
    age = (now - job.created_at).total_seconds()
    seconds = min(timing.max_poll_interval_seconds, max(timing.first_poll_seconds, age / 10))
    if heard:
        seconds = max(seconds, timing.quiet_seconds)
    if seen is not None and seen.poll_after_seconds is not None:
        seconds = max(seconds, seen.poll_after_seconds)
    return timedelta(seconds=seconds)


def describe(job: GenerationJobRecord, changes: dict[str, Any]) -> dict[str, JsonValue]:
    """What changed, for the record of the webhook or poll that changed it: `[old, new]`."""
    shown: dict[str, JsonValue] = {}
    for name in ("status", "raw_status", "progress", "provider_job_id"):
        if name in changes:
            shown[name] = [_json(getattr(job, name)), _json(changes[name])]
    if "result" in changes:
        shown["result_assets"] = len(changes["result"])
    if changes.get("error") is not None:
        shown["error"] = changes["error"]
    return shown


def _json(value: object) -> JsonValue:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def is_due(job: GenerationJobRecord, now: datetime) -> bool:
    return job.next_poll_at is not None and job.next_poll_at <= now and not job.status.is_terminal


__all__ = ["describe", "is_due", "merge", "next_poll_delay"]

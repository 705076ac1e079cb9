"""OpenAI's video generation API (`/videos`): the wire format and the calls.

Create is multipart (`prompt`, `model`, `seconds`, `size`, as openai-python sends it); a
video is `{id, object, status, model, progress, seconds, size,
created_at, completed_at, expires_at, error}`; its MP4 is `GET /videos/{id}/content`. Webhooks
are Standard Webhooks events `{id, type, created_at, data: {id}}` (`video.completed`,
`video.failed`), configured per project rather than per request, and name only the video.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, JsonValue, SecretStr, ValidationError

from adapters.base import Credential
from adapters.categories import Category
from adapters.errors import (
    BadRequestError,
    MalformedWebhookError,
    ProtocolError,
    UnsupportedCategoryError,
)
from adapters.generation import (
    DownloadedContent,
    GeneratedAsset,
    GenerationJob,
    GenerationRequest,
    TextToVideoRequest,
    WebhookNotice,
)
from adapters.http import Exchange, convert_wire, parse_wire
from adapters.jobs import JobError, JobStatus
from adapters.remote import RemoteCore, Reply
from adapters.webhooks import verify_standard_webhook

__all__ = ["STATE", "VIDEO_CATEGORIES", "OpenAIVideos", "WireVideo", "video_form"]

# Image-to-video is not served: the API takes its reference image as an uploaded file
# (openai-python cannot send the `{image_url}` form of `input_reference` in its multipart).
VIDEO_CATEGORIES = frozenset({Category.TEXT_TO_VIDEO})
STATE = {
    "queued": JobStatus.QUEUED,
    "in_progress": JobStatus.RUNNING,
    "completed": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
}
EVENTS = {"video.completed": JobStatus.SUCCEEDED, "video.failed": JobStatus.FAILED}
POLL_AFTER_HEADER = "openai-poll-after-ms"  # the SDK's poll helper waits this long
# Standard fields the videos API has no field for: refused by name, never dropped.
_NO_FIELD = {
    "aspect_ratio": "choose the frame with `resolution` (the API's `size`, e.g. 1280x720)",
    "negative_prompt": "the videos API takes a prompt only",
    "seed": "the videos API takes no seed",
}
_LENIENT = ConfigDict(extra="ignore")


class WireVideoError(BaseModel):
    model_config = _LENIENT
    code: str
    message: str


class WireVideo(BaseModel):
    model_config = _LENIENT
    id: str
    status: str
    model: str | None = None
    progress: int | None = None
    seconds: str | None = None
    created_at: int | None = None
    completed_at: int | None = None
    error: WireVideoError | None = None


class WireEvent(BaseModel):
    model_config = _LENIENT
    id: str
    type: str
    data: dict[str, JsonValue]


def video_form(request: GenerationRequest) -> dict[str, tuple[None, str]]:
    """The multipart fields of a create. Raises ValueError naming a field the API lacks."""
    if not isinstance(request, TextToVideoRequest):
        raise ValueError(f"the videos API does not serve {request.category}")
    for name, hint in _NO_FIELD.items():
        if getattr(request, name, None) is not None:
            raise ValueError(f"`{name}` cannot be sent to OpenAI's videos API: {hint}")
    form = {"prompt": request.prompt, "model": request.model}
    if request.duration_seconds is not None:
        form["seconds"] = f"{request.duration_seconds:g}"  # multipart carries a number's text
    if request.resolution is not None:
        form["size"] = request.resolution
    return {name: (None, value) for name, value in {**form, **_extra(request, form)}.items()}


def _extra(request: GenerationRequest, form: Mapping[str, str]) -> dict[str, str]:
    extra: dict[str, str] = {}
    for name, value in request.provider_options.items():
        if name in form:
            raise ValueError(f"provider_options repeats standard field `{name}`")
        if not isinstance(value, str | int | float | bool):
            raise ValueError(f"provider_options.{name}: a form field holds text or a number")
        extra[name] = value if isinstance(value, str) else json.dumps(value)
    return extra


def job_from_video(
    video: WireVideo, *, provider: str, poll_after: float | None = None
) -> GenerationJob | None:
    status = STATE.get(video.status)
    if status is None:
        return None
    outputs: tuple[GeneratedAsset, ...] = ()
    if status is JobStatus.SUCCEEDED:
        seconds = float(video.seconds) if video.seconds else None
        mp4 = GeneratedAsset(content_type="video/mp4", duration_seconds=seconds, download=True)
        outputs = (mp4,)
    error = None
    if status is JobStatus.FAILED:
        error = JobError(
            code=video.error.code if video.error else "failed",
            message=video.error.message if video.error else "the video failed",
        )
    return GenerationJob(
        id=video.id,
        provider=provider,
        status=status,
        raw_status=video.status,
        model=video.model,
        outputs=outputs,
        error=error,
        created_at=_stamp(video.created_at),
        finished_at=_stamp(video.completed_at),
        progress=None if video.progress is None else min(1.0, max(0.0, video.progress / 100)),
        poll_after_seconds=poll_after if status in {JobStatus.QUEUED, JobStatus.RUNNING} else None,
    )


class OpenAIVideos:
    """The video calls of the `openai` adapter (which delegates to this)."""

    def __init__(self, core: RemoteCore, kind: str) -> None:
        self._core = core
        self._kind = kind

    async def create(
        self,
        credential: Credential,
        request: GenerationRequest,
        *,
        idempotency_key: str | None,
        timeout: float | None,
    ) -> GenerationJob:
        if request.category not in VIDEO_CATEGORIES:
            raise UnsupportedCategoryError(self._kind, request.category, VIDEO_CATEGORIES)
        try:
            form = video_form(request)
        except ValueError as exc:
            raise BadRequestError(str(exc), provider=self._kind) from exc
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        exchange = Exchange("POST", "/videos", headers, files=form)
        return self._job(await self._core.call(credential, exchange, timeout=timeout))

    async def retrieve(
        self, credential: Credential, job_id: str, *, timeout: float | None
    ) -> GenerationJob:
        exchange = Exchange("GET", f"/videos/{job_id}", {})
        return self._job(await self._core.call(credential, exchange, timeout=timeout))

    async def download(
        self,
        credential: Credential,
        job_id: str,
        index: int,
        destination: Path,
        *,
        max_bytes: int,
        timeout: float | None,
    ) -> DownloadedContent:
        if index != 0:
            raise BadRequestError(f"a video has one output, not {index + 1}", provider=self._kind)
        exchange = Exchange(
            "GET",
            f"/videos/{job_id}/content",
            {"Accept": "application/binary"},
            params={"variant": "video"},
        )
        return await self._core.download(
            credential, exchange, destination, max_bytes=max_bytes, timeout=timeout
        )

    def parse_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        secrets: Sequence[SecretStr],
        *,
        tolerance: int,
    ) -> WebhookNotice:
        keys = [secret.get_secret_value() for secret in secrets]
        webhook_id = verify_standard_webhook(headers, body, keys, tolerance=tolerance)
        try:
            event = WireEvent.model_validate(json.loads(body))
        except (ValueError, ValidationError) as exc:
            raise MalformedWebhookError(f"webhook body is not an event: {exc}") from exc
        video_id = event.data.get("id")
        if event.type not in EVENTS or not isinstance(video_id, str) or not video_id:
            raise MalformedWebhookError(
                f"event {event.type!r} is not a video event; subscribe the endpoint to "
                f"{' and '.join(sorted(EVENTS))} only"
            )
        return WebhookNotice(webhook_id=webhook_id, job_id=video_id, event=event.type)

    def _job(self, reply: Reply) -> GenerationJob:
        video = parse_wire(WireVideo, reply.body, provider=self._kind)
        hint = reply.headers.get(POLL_AFTER_HEADER)
        poll_after = int(hint) / 1000 if hint and hint.isdigit() else None
        job = convert_wire(
            lambda v: job_from_video(v, provider=self._kind, poll_after=poll_after),
            video,
            provider=self._kind,
        )
        if job is None:
            raise ProtocolError(f"unknown video status {video.status!r}", provider=self._kind)
        return job


def _stamp(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None

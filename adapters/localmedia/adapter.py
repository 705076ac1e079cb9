"""The `localmedia` adapter: a real asynchronous provider on this machine, no key, no network
but the webhook it delivers.

A job is accepted at once and finishes `render_seconds` later: a timer renders it and POSTs a
Standard-Webhooks-signed notice to the callback URL. If the process dies first, the next
retrieve (from any process) renders it, so polling always settles it. The job id derives from
the idempotency key: a create sent twice is one job, and `find_generation` looks it up.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Self

import httpx
from pydantic import Field, SecretStr, TypeAdapter, ValidationError

from adapters.base import AdapterContext, AdapterOptions, Credential, validate_options
from adapters.categories import Category
from adapters.errors import (
    BadRequestError,
    ConfigurationError,
    MalformedWebhookError,
    ResourceNotFoundError,
    UnsupportedCategoryError,
)
from adapters.generation import (
    DownloadedContent,
    GeneratedAsset,
    GenerationJob,
    GenerationRequest,
    WebhookNotice,
)
from adapters.jobs import JobStatus
from adapters.localmedia.render import render
from adapters.localmedia.store import JobRecord, MediaStore, OutputFile, request_digest
from adapters.webhooks import sign_standard_webhook, verify_standard_webhook

__all__ = ["LocalMediaAdapter", "LocalMediaOptions"]

log = logging.getLogger("adapters.localmedia")
_REQUEST: TypeAdapter[GenerationRequest] = TypeAdapter(GenerationRequest)
_QUEUED_SHARE = 0.2  # the first fifth of the wait is spent "queued", the rest "running"
_DELIVERY_ATTEMPTS = 3


class LocalMediaOptions(AdapterOptions):
    render_seconds: float = Field(default=3.0, ge=0.0, le=3600.0)
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=86_400)


class LocalMediaAdapter:
    kind: ClassVar[str] = "localmedia"
    categories: ClassVar[frozenset[Category]] = frozenset(
        {Category.TEXT_TO_IMAGE, Category.TEXT_TO_SPEECH, Category.TEXT_TO_MUSIC}
    )

    def __init__(
        self, store: MediaStore, options: LocalMediaOptions, clock: Callable[[], float]
    ) -> None:
        self._store = store
        self._options = options
        self._clock = clock

    @classmethod
    def from_context(cls, context: AdapterContext) -> Self:
        if context.data_dir is None:
            raise ConfigurationError("provider kind 'localmedia' needs a data_dir")
        options = validate_options(LocalMediaOptions, context.options, cls.kind)
        return cls(MediaStore(context.data_dir / "localmedia"), options, time.time)

    def signing_secret(self) -> SecretStr:
        """The secret this provider signs its webhooks with (register it with the receiver)."""
        return SecretStr(self._store.signing_secret())

    async def create_generation(
        self,
        credential: Credential,
        request: GenerationRequest,
        callback_url: str | None = None,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> GenerationJob:
        if request.category not in self.categories:
            raise UnsupportedCategoryError(self.kind, request.category, self.categories)
        return await asyncio.to_thread(self._create, request, callback_url, idempotency_key)

    async def retrieve_generation(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> GenerationJob:
        return await asyncio.to_thread(lambda: self._job(self._settled(self._require(job_id))))

    async def cancel_generation(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> GenerationJob:
        return await asyncio.to_thread(self._cancel, job_id)

    async def find_generation(
        self, credential: Credential, idempotency_key: str, *, timeout: float | None = None
    ) -> GenerationJob | None:
        record = self._store.read(self._store.job_id_for(idempotency_key))
        return None if record is None else self._job(record)

    async def download_generation(
        self,
        credential: Credential,
        job_id: str,
        index: int,
        destination: Path,
        *,
        max_bytes: int,
        timeout: float | None = None,
    ) -> DownloadedContent:
        record = self._settled(self._require(job_id))
        if not 0 <= index < len(record.outputs):
            raise ResourceNotFoundError(f"job {job_id} has no output {index}", provider=self.kind)
        output = record.outputs[index]
        if output.size_bytes > max_bytes:
            raise BadRequestError(
                f"output {index} is larger than the {max_bytes}-byte limit", provider=self.kind
            )
        await asyncio.to_thread(shutil.copyfile, self._store.output_path(output), destination)
        return DownloadedContent(
            content_type=output.content_type, size_bytes=output.size_bytes, sha256=output.sha256
        )

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secrets: Sequence[SecretStr]
    ) -> WebhookNotice:
        keys = [secret.get_secret_value() for secret in secrets]
        tolerance = self._options.webhook_tolerance_seconds
        webhook_id = verify_standard_webhook(headers, body, keys, tolerance=tolerance)
        try:
            event = json.loads(body)
            job = GenerationJob.model_validate(event["data"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise MalformedWebhookError(f"webhook body is not a job event: {exc}") from exc
        return WebhookNotice(
            webhook_id=webhook_id, job_id=job.id, event=str(event.get("type", "")), job=job
        )

    # -- the provider's side ----------------------------------------------------------

    def _create(
        self, request: GenerationRequest, callback_url: str | None, key: str | None
    ) -> GenerationJob:
        body = request.model_dump(mode="json")
        digest = request_digest(body)
        job_id = self._store.job_id_for(key)
        existing = self._store.read(job_id)
        if existing is not None:
            if existing.request_sha256 != digest:
                raise BadRequestError(
                    f"idempotency key {key!r} was used for another request", provider=self.kind
                )
            return self._job(existing)
        now = self._clock()
        record = JobRecord(
            id=job_id,
            idempotency_key=key,
            request=body,
            request_sha256=digest,
            created_at=now,
            ready_at=now + self._options.render_seconds,
            callback_url=callback_url,
        )
        self._store.write(record)
        timer = threading.Timer(self._options.render_seconds, self._finish, (job_id,))
        timer.daemon = True
        timer.start()
        return self._job(record)

    def _finish(self, job_id: str) -> None:
        """The timer: render, then deliver the signed webhook (best effort: polling settles
        the job if no delivery gets through)."""
        record = self._rendered(self._require(job_id))
        if record.callback_url is None:
            return
        job = self._job(record)
        body = json.dumps(
            {"type": f"generation.{job.status.value}", "data": job.model_dump(mode="json")}
        ).encode()
        headers = sign_standard_webhook(
            f"msg_{job_id}_{job.status.value}", body, [self._store.signing_secret()]
        )
        for attempt in range(_DELIVERY_ATTEMPTS):
            try:
                answer = httpx.post(
                    record.callback_url,
                    content=body,
                    headers={"content-type": "application/json", **headers},
                    timeout=10,
                )
                if answer.is_success:
                    return
            except httpx.HTTPError as exc:
                log.info("webhook of %s not delivered (attempt %d): %s", job_id, attempt + 1, exc)
            time.sleep(0.5 * 2**attempt)

    def _settled(self, record: JobRecord) -> JobRecord:
        """A job past its time is rendered on the spot (its timer died with its process)."""
        if record.cancelled or record.outputs or self._clock() < record.ready_at:
            return record
        return self._rendered(record)

    def _rendered(self, record: JobRecord) -> JobRecord:
        if record.cancelled or record.outputs:
            return record
        request = _REQUEST.validate_python(record.request)
        outputs = []
        for index, piece in enumerate(render(request)):
            path = self._store.write_output(record.id, index, piece.extension, piece.content)
            outputs.append(
                OutputFile(
                    file=path.name,
                    content_type=piece.content_type,
                    size_bytes=len(piece.content),
                    sha256=_sha256(piece.content),
                    duration_seconds=piece.duration_seconds,
                )
            )
        done = record.model_copy(update={"outputs": outputs})
        current = self._store.read(record.id)
        if current is not None and current.cancelled:
            return current  # cancelled while rendering: the cancel wins
        self._store.write(done)
        return done

    def _cancel(self, job_id: str) -> GenerationJob:
        record = self._settled(self._require(job_id))
        if not record.outputs and not record.cancelled:
            record = record.model_copy(update={"cancelled": True})
            self._store.write(record)
        return self._job(record)

    def _require(self, job_id: str) -> JobRecord:
        try:
            record = self._store.read(job_id)
        except ValueError:
            record = None
        if record is None:
            raise ResourceNotFoundError(f"no local media job {job_id!r}", provider=self.kind)
        return record

    def _job(self, record: JobRecord) -> GenerationJob:
        now = self._clock()
        wait = max(record.ready_at - record.created_at, 1e-9)
        if record.cancelled:
            status, progress = JobStatus.CANCELLED, None
        elif record.outputs:
            status, progress = JobStatus.SUCCEEDED, 1.0
        elif now - record.created_at < _QUEUED_SHARE * wait:
            status, progress = JobStatus.QUEUED, 0.0
        else:
            status, progress = JobStatus.RUNNING, min(0.99, (now - record.created_at) / wait)
        return GenerationJob(
            id=record.id,
            provider=self.kind,
            status=status,
            raw_status=status.value,
            model=str(record.request.get("model")),
            outputs=tuple(
                GeneratedAsset(
                    content_type=o.content_type, duration_seconds=o.duration_seconds, download=True
                )
                for o in record.outputs
            ),
            progress=progress,
            poll_after_seconds=None if status.is_terminal else max(0.0, record.ready_at - now),
        )


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()

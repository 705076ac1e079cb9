"""The `openai` adapter: chat, files, fine-tuning jobs and video generation on any
OpenAI-compatible base URL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Literal, Self, TypeVar

from pydantic import BaseModel, Field, JsonValue, SecretStr

from adapters.base import AdapterContext, Credential, StreamingOptions, validate_options
from adapters.categories import Category
from adapters.chat import ChatRequest, ChatResponse
from adapters.errors import ProtocolError
from adapters.generation import DownloadedContent, GenerationJob, GenerationRequest, WebhookNotice
from adapters.http import Exchange, convert_wire, json_error_detail, parse_wire
from adapters.jobs import (
    FilePurpose,
    FineTuneCheckpoint,
    FineTuneEvent,
    FineTuneJob,
    FineTuneRequest,
    UploadedFile,
)
from adapters.openai import wire
from adapters.openai.chunks import OpenAIChunkDecoder
from adapters.openai.videos import VIDEO_CATEGORIES, OpenAIVideos
from adapters.ratelimit import parse_rate_limit
from adapters.remote import RemoteCore
from adapters.streaming import ChatStream

__all__ = ["OpenAIAdapter", "OpenAIOptions"]

A = TypeVar("A")
R = TypeVar("R")
W = TypeVar("W", bound=BaseModel)
_FIND_PAGES = 10  # pages of 100 jobs searched when the server ignores the metadata filter
_EVENT_PAGES = 50  # at most 5,000 events per call; a job has far fewer


class OpenAIOptions(StreamingOptions):
    organization: str | None = None
    project: str | None = None
    # OpenAI's newer models want max_completion_tokens; most compatible servers max_tokens.
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=86_400)


class OpenAIAdapter:
    """Chat, file upload, fine-tune jobs and videos over the OpenAI REST API."""

    kind: ClassVar[str] = "openai"
    categories: ClassVar[frozenset[Category]] = frozenset({Category.CHAT}) | VIDEO_CATEGORIES

    def __init__(self, core: RemoteCore, options: OpenAIOptions) -> None:
        self._core = core
        self._options = options
        self._videos = OpenAIVideos(core, self.kind)

    @classmethod
    def from_context(cls, context: AdapterContext) -> Self:
        base_url, client = RemoteCore.require(context, cls.kind)
        options = validate_options(OpenAIOptions, context.options, cls.kind)
        static = {"OpenAI-Organization": options.organization, "OpenAI-Project": options.project}
        core = RemoteCore(
            provider=cls.kind,
            base_url=base_url,
            client=client,
            default_timeout=options.timeout_seconds,
            error_detail=json_error_detail,
            auth_headers=lambda key: {"Authorization": f"Bearer {key}"},
            static_headers={k: v for k, v in static.items() if v},
        )
        return cls(core, options)

    async def chat(
        self, credential: Credential, request: ChatRequest, *, timeout: float | None = None
    ) -> ChatResponse:
        body = wire.chat_to_wire(request, self._options.max_tokens_field)
        reply = await self._core.call(
            credential, Exchange("POST", "/chat/completions", {}, json=body), timeout=timeout
        )
        parsed = self._parse(wire.WireChatCompletion, reply.body)
        if not parsed.choices:
            raise ProtocolError("chat completion has no choices", provider=self.kind)
        return wire.chat_from_wire(
            parsed,
            provider=self.kind,
            latency_ms=reply.latency_ms,
            rate_limit=parse_rate_limit(reply.headers),
            raw=reply.body if isinstance(reply.body, dict) else None,
        )

    async def open_chat_stream(
        self, credential: Credential, request: ChatRequest, *, timeout: float | None = None
    ) -> ChatStream:
        """`stream: true`, with usage asked for; each chunk keeps OpenAI's JSON as `raw`."""
        body = wire.chat_to_wire(request, self._options.max_tokens_field, stream=True)
        return await self._core.stream_chat(
            credential,
            Exchange("POST", "/chat/completions", {}, json=body),
            OpenAIChunkDecoder(self.kind),
            timeout=timeout,
            idle_timeout=self._options.stream_idle_timeout_seconds,
        )

    async def upload_file(
        self,
        credential: Credential,
        file: Path | bytes,
        purpose: FilePurpose,
        *,
        filename: str | None = None,
        timeout: float | None = None,
    ) -> UploadedFile:
        content = await asyncio.to_thread(file.read_bytes) if isinstance(file, Path) else file
        name = filename or (file.name if isinstance(file, Path) else "data.jsonl")
        exchange = Exchange(
            "POST",
            "/files",
            {},
            files={"file": (name, content, "application/jsonl")},
            data={"purpose": purpose.value},
        )
        reply = await self._core.call(credential, exchange, timeout=timeout)
        return self._convert(wire.file_from_wire, self._parse(wire.WireFile, reply.body))

    async def create_fine_tune(
        self, credential: Credential, request: FineTuneRequest, *, timeout: float | None = None
    ) -> FineTuneJob:
        """Find-then-create: a job made earlier with this idempotency key is returned as is."""
        existing = await self.find_fine_tune(credential, request.idempotency_key, timeout=timeout)
        if existing is not None:
            return existing
        exchange = Exchange(
            "POST",
            "/fine_tuning/jobs",
            {"Idempotency-Key": request.idempotency_key},
            json=wire.fine_tune_to_wire(request),
        )
        reply = await self._core.call(credential, exchange, timeout=timeout)
        return self._job(reply.body)

    async def retrieve_fine_tune(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> FineTuneJob:
        reply = await self._core.call(
            credential, Exchange("GET", f"/fine_tuning/jobs/{job_id}", {}), timeout=timeout
        )
        return self._job(reply.body)

    async def cancel_fine_tune(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> FineTuneJob:
        reply = await self._core.call(
            credential, Exchange("POST", f"/fine_tuning/jobs/{job_id}/cancel", {}), timeout=timeout
        )
        return self._job(reply.body)

    async def list_fine_tune_events(
        self,
        credential: Credential,
        job_id: str,
        *,
        after: str | None = None,
        timeout: float | None = None,
    ) -> list[FineTuneEvent]:
        """Pages newest-first until `after` (or the oldest event); returns oldest first."""
        newest_first: list[FineTuneEvent] = []
        cursor: str | None = None
        for _ in range(_EVENT_PAGES):
            params = {"limit": "100", **({"after": cursor} if cursor else {})}
            exchange = Exchange("GET", f"/fine_tuning/jobs/{job_id}/events", {}, params=params)
            reply = await self._core.call(credential, exchange, timeout=timeout)
            page = self._parse(wire.WireList[wire.WireEvent], reply.body)
            for item in page.data:
                if item.id == after:
                    return newest_first[::-1]
                newest_first.append(self._convert(wire.event_from_wire, item))
            if not page.has_more or not page.data:
                break
            cursor = page.data[-1].id
        return newest_first[::-1]

    async def list_fine_tune_checkpoints(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> list[FineTuneCheckpoint]:
        exchange = Exchange(
            "GET", f"/fine_tuning/jobs/{job_id}/checkpoints", {}, params={"limit": "100"}
        )
        reply = await self._core.call(credential, exchange, timeout=timeout)
        page = self._parse(wire.WireList[wire.WireCheckpoint], reply.body)
        return [self._convert(wire.checkpoint_from_wire, item) for item in page.data]

    async def find_fine_tune(
        self, credential: Credential, idempotency_key: str, *, timeout: float | None = None
    ) -> FineTuneJob | None:
        """The job whose metadata carries this key; also checked here in case the filter is
        ignored by a compatible server."""
        params = {f"metadata[{wire.IDEMPOTENCY_METADATA_KEY}]": idempotency_key, "limit": "100"}
        for _ in range(_FIND_PAGES):
            exchange = Exchange("GET", "/fine_tuning/jobs", {}, params=params)
            reply = await self._core.call(credential, exchange, timeout=timeout)
            page = self._parse(wire.WireList[wire.WireFineTuningJob], reply.body)
            for item in page.data:
                if (item.metadata or {}).get(wire.IDEMPOTENCY_METADATA_KEY) == idempotency_key:
                    return self._job_from(item)
            if not page.has_more or not page.data:
                return None
            params = {**params, "after": page.data[-1].id}
        return None

    async def create_generation(
        self,
        credential: Credential,
        request: GenerationRequest,
        callback_url: str | None = None,  # OpenAI's webhooks are set per project, not per call
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> GenerationJob:
        return await self._videos.create(
            credential, request, idempotency_key=idempotency_key, timeout=timeout
        )

    async def retrieve_generation(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> GenerationJob:
        return await self._videos.retrieve(credential, job_id, timeout=timeout)

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
        return await self._videos.download(
            credential, job_id, index, destination, max_bytes=max_bytes, timeout=timeout
        )

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secrets: Sequence[SecretStr]
    ) -> WebhookNotice:
        """A video event; it names the video only, so the job is retrieved with its key."""
        tolerance = self._options.webhook_tolerance_seconds
        return self._videos.parse_webhook(headers, body, secrets, tolerance=tolerance)

    def _job(self, body: JsonValue) -> FineTuneJob:
        return self._job_from(self._parse(wire.WireFineTuningJob, body))

    def _job_from(self, item: wire.WireFineTuningJob) -> FineTuneJob:
        job = self._convert(lambda w: wire.fine_tune_from_wire(w, provider=self.kind), item)
        if job is None:
            raise ProtocolError(f"unknown fine-tune status {item.status!r}", provider=self.kind)
        return job

    def _parse(self, model: type[W], body: JsonValue) -> W:
        return parse_wire(model, body, provider=self.kind)

    def _convert(self, fn: Callable[[A], R], item: A) -> R:
        return convert_wire(fn, item, provider=self.kind)

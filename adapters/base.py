"""The adapter interface: a credential, what an adapter is built from, one Protocol per capability.

Every I/O method is async and takes the credential explicitly, so one adapter serves every key
of a provider; `timeout` (seconds) overrides the adapter's default for that call only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, Self, TypeVar, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, SecretStr, ValidationError

from adapters.call_rules import READ_TIMEOUT_SECONDS, STREAM_IDLE_TIMEOUT_SECONDS
from adapters.categories import Category
from adapters.chat import ChatRequest, ChatResponse, ClassificationRequest, ClassificationResponse
from adapters.errors import ConfigurationError
from adapters.generation import (
    DownloadedContent,
    GenerationJob,
    GenerationRequest,
    WebhookNotice,
)
from adapters.jobs import (
    FilePurpose,
    FineTuneCheckpoint,
    FineTuneEvent,
    FineTuneJob,
    FineTuneRequest,
    UploadedFile,
)
from adapters.streaming import ChatStream

__all__ = [
    "Adapter",
    "AdapterContext",
    "AdapterOptions",
    "ChatAdapter",
    "ChatStreamAdapter",
    "ClassificationAdapter",
    "Credential",
    "FileAdapter",
    "FineTuneAdapter",
    "GenerationAdapter",
    "GenerationCancelAdapter",
    "GenerationDownloadAdapter",
    "GenerationLookupAdapter",
    "StreamingOptions",
    "validate_options",
]


class Credential(BaseModel):
    """The key a call is made with; `key_id` is the caller's opaque handle to record outcomes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    key_id: str | None = None

    def secret(self) -> str | None:
        """The plaintext key, for the one place that writes the auth header."""
        return self.api_key.get_secret_value() if self.api_key is not None else None


@dataclass(frozen=True)
class AdapterContext:
    """What `create_adapter` hands an adapter: nothing is read from the environment."""

    base_url: str | None = None
    options: Mapping[str, JsonValue] = field(default_factory=dict)
    http_client: httpx.AsyncClient | None = None  # owned by the caller (gateway lifespan)
    data_dir: Path | None = None  # MODELOPS_DATA_DIR, for adapters that keep files


@runtime_checkable
class Adapter(Protocol):
    """An adapter class: its kind, the categories it serves, and how it is built."""

    kind: ClassVar[str]
    categories: ClassVar[frozenset[Category]]

    @classmethod
    def from_context(cls, context: AdapterContext) -> Self: ...


@runtime_checkable
class ChatAdapter(Protocol):
    async def chat(
        self, credential: Credential, request: ChatRequest, *, timeout: float | None = None
    ) -> ChatResponse: ...


@runtime_checkable
class ChatStreamAdapter(Protocol):
    async def open_chat_stream(
        self, credential: Credential, request: ChatRequest, *, timeout: float | None = None
    ) -> ChatStream:
        """Send the request and read up to the first chunk with output; `timeout` bounds that.

        Raises the usual ProviderError for an HTTP error status, or for an in-band error, a
        malformed event or silence before the first chunk (ProviderTimeoutError): the caller
        may still fail over. Faults after it raise from iterating the stream. Close it.
        """
        ...


@runtime_checkable
class ClassificationAdapter(Protocol):
    async def classify(
        self,
        credential: Credential,
        request: ClassificationRequest,
        *,
        timeout: float | None = None,
    ) -> ClassificationResponse: ...


@runtime_checkable
class FileAdapter(Protocol):
    async def upload_file(
        self,
        credential: Credential,
        file: Path | bytes,
        purpose: FilePurpose,
        *,
        filename: str | None = None,
        timeout: float | None = None,
    ) -> UploadedFile: ...


@runtime_checkable
class FineTuneAdapter(Protocol):
    """Fine-tune jobs. Jobs belong to the account that made them: poll with the same key."""

    async def create_fine_tune(
        self, credential: Credential, request: FineTuneRequest, *, timeout: float | None = None
    ) -> FineTuneJob: ...

    async def retrieve_fine_tune(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> FineTuneJob: ...

    async def list_fine_tune_events(
        self,
        credential: Credential,
        job_id: str,
        *,
        after: str | None = None,
        timeout: float | None = None,
    ) -> list[FineTuneEvent]:
        """Events oldest first; with `after` (an event id already seen) only newer ones."""
        ...

    async def list_fine_tune_checkpoints(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> list[FineTuneCheckpoint]: ...

    async def cancel_fine_tune(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> FineTuneJob: ...

    async def find_fine_tune(
        self, credential: Credential, idempotency_key: str, *, timeout: float | None = None
    ) -> FineTuneJob | None:
        """The job an earlier create with this idempotency key made, if any."""
        ...


@runtime_checkable
class GenerationAdapter(Protocol):
    """Asynchronous media generation: create with a callback URL, poll, or take the webhook.

    Jobs belong to the account that made them: retrieve (and cancel, download) with its key.
    """

    async def create_generation(
        self,
        credential: Credential,
        request: GenerationRequest,
        callback_url: str | None = None,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> GenerationJob:
        """Start a job. `idempotency_key` goes to the provider where it takes one (sent as
        `Idempotency-Key`); whether it is honoured is the provider's (adapters/README.md)."""
        ...

    async def retrieve_generation(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> GenerationJob: ...

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, secrets: Sequence[SecretStr]
    ) -> WebhookNotice:
        """Verify the webhook with any of `secrets` (several during a rotation), then read it
        (pure, no I/O). Raises WebhookError subclasses."""
        ...


@runtime_checkable
class GenerationCancelAdapter(Protocol):
    async def cancel_generation(
        self, credential: Credential, job_id: str, *, timeout: float | None = None
    ) -> GenerationJob: ...


@runtime_checkable
class GenerationDownloadAdapter(Protocol):
    """Outputs marked `download` are fetched with the job's key, not from a public URL."""

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
        """Write output `index` of the job to `destination`; more than `max_bytes` is a
        BadRequestError (and nothing is left at `destination`)."""
        ...


@runtime_checkable
class GenerationLookupAdapter(Protocol):
    """A provider that can say which job an idempotency key made: a create whose answer was
    lost is looked up, never sent twice."""

    async def find_generation(
        self, credential: Credential, idempotency_key: str, *, timeout: float | None = None
    ) -> GenerationJob | None: ...


class AdapterOptions(BaseModel):
    """Base of each adapter's options model; unknown options are refused by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_seconds: float = Field(default=READ_TIMEOUT_SECONDS, gt=0.0, le=3600.0)


class StreamingOptions(AdapterOptions):
    """Options of an adapter that streams: how long a stream may be silent between events."""

    stream_idle_timeout_seconds: float = Field(
        default=STREAM_IDLE_TIMEOUT_SECONDS, gt=0.0, le=3600.0
    )


OptionsT = TypeVar("OptionsT", bound=AdapterOptions)


def validate_options(model: type[OptionsT], raw: Mapping[str, JsonValue], kind: str) -> OptionsT:
    """An adapter's options, or ConfigurationError naming the bad option and the allowed ones."""
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        allowed = ", ".join(sorted(model.model_fields))
        raise ConfigurationError(
            f"invalid options for provider kind {kind!r}: {problems}; allowed options: {allowed}"
        ) from exc

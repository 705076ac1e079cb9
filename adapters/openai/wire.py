"""OpenAI wire format (platform.openai.com/docs/api-reference): pure to_wire / from_wire.

Only names change on the way through; values (text, numbers, ids) are copied as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, JsonValue

from adapters.chat import ChatMessage, ChatRequest, ChatResponse, FinishReason, Usage
from adapters.jobs import (
    EventLevel,
    FilePurpose,
    FineTuneCheckpoint,
    FineTuneEvent,
    FineTuneJob,
    FineTuneRequest,
    Hyperparameters,
    JobError,
    JobStatus,
    UploadedFile,
)
from adapters.ratelimit import RateLimitSnapshot

__all__ = [
    "IDEMPOTENCY_METADATA_KEY",
    "JOB_STATUS",
    "WireChatCompletion",
    "WireCheckpoint",
    "WireEvent",
    "WireFile",
    "WireFineTuningJob",
    "WireList",
    "WireUsage",
    "chat_from_wire",
    "chat_to_wire",
    "checkpoint_from_wire",
    "event_from_wire",
    "file_from_wire",
    "fine_tune_from_wire",
    "fine_tune_to_wire",
    "finish_reason",
    "usage_from_wire",
]

IDEMPOTENCY_METADATA_KEY = "modelops_idempotency_key"

# The six statuses of a fine_tuning.job; "paused"/"pausing" appear with the pause endpoint.
JOB_STATUS = {
    "validating_files": JobStatus.QUEUED,
    "queued": JobStatus.QUEUED,
    "running": JobStatus.RUNNING,
    "succeeded": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED,
    "pausing": JobStatus.QUEUED,
    "paused": JobStatus.QUEUED,
}
_FINISH = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "content_filter": FinishReason.CONTENT_FILTER,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
}
T = TypeVar("T")
_LENIENT = ConfigDict(extra="ignore")  # providers add fields; we read only what we map


class WireUsage(BaseModel):
    model_config = _LENIENT
    prompt_tokens: int
    completion_tokens: int = 0


class _WireMessage(BaseModel):
    model_config = _LENIENT
    role: str
    content: str | None = None


class _WireChoice(BaseModel):
    model_config = _LENIENT
    index: int = 0
    message: _WireMessage
    finish_reason: str | None = None


class WireChatCompletion(BaseModel):
    model_config = _LENIENT
    id: str
    model: str
    choices: list[_WireChoice]
    usage: WireUsage | None = None


class WireFile(BaseModel):
    model_config = _LENIENT
    id: str
    bytes: int
    created_at: int | None = None
    filename: str
    purpose: str


class _WireHyperparameters(BaseModel):
    model_config = _LENIENT
    n_epochs: int | str | None = None
    batch_size: int | str | None = None
    learning_rate_multiplier: float | str | None = None


class _WireSupervised(BaseModel):
    model_config = _LENIENT
    hyperparameters: _WireHyperparameters | None = None


class _WireMethod(BaseModel):
    model_config = _LENIENT
    type: str
    supervised: _WireSupervised | None = None


class _WireJobError(BaseModel):
    model_config = _LENIENT
    code: str | None = None
    message: str | None = None
    param: str | None = None


class WireFineTuningJob(BaseModel):
    model_config = _LENIENT
    id: str
    created_at: int
    status: str
    model: str
    training_file: str
    validation_file: str | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    error: _WireJobError | None = None
    hyperparameters: _WireHyperparameters | None = None
    method: _WireMethod | None = None
    seed: int | None = None
    trained_tokens: int | None = None
    metadata: dict[str, str] | None = None


class WireEvent(BaseModel):
    model_config = _LENIENT
    id: str
    created_at: int
    level: str
    message: str
    type: str | None = None
    data: dict[str, JsonValue] | None = None


class WireCheckpoint(BaseModel):
    model_config = _LENIENT
    id: str
    created_at: int
    fine_tuned_model_checkpoint: str
    step_number: int
    metrics: dict[str, float | None] = {}


class WireList(BaseModel, Generic[T]):
    model_config = _LENIENT
    data: list[T]
    has_more: bool = False


def chat_to_wire(
    request: ChatRequest,
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"],
    *,
    stream: bool = False,
) -> dict[str, JsonValue]:
    """The /chat/completions body; fields left None are omitted so provider defaults apply.

    The request's `extra` fields are merged in as they are, and the standard fields written
    over them. A stream always asks for usage (`stream_options.include_usage`), keeping any
    other stream option the request gave.
    """
    body: dict[str, JsonValue] = dict(request.extra)
    body["model"] = request.model
    body["messages"] = [_message_to_wire(m) for m in request.messages]
    optional: dict[str, JsonValue] = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        max_tokens_field: request.max_tokens,
        "stop": list(request.stop) if request.stop else None,
        "seed": request.seed,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if stream:
        given = request.extra.get("stream_options")
        body["stream"] = True
        body["stream_options"] = {
            **(given if isinstance(given, dict) else {}),
            "include_usage": True,
        }
    return body


def _message_to_wire(message: ChatMessage) -> dict[str, JsonValue]:
    """The message as the client wrote it: string, parts or null content, and its extras."""
    content: JsonValue = message.content
    if message.null_content:
        content = None
    elif message.parts is not None:
        content = list(message.parts)
    return {"role": message.role.value, "content": content, **message.extra}


def chat_from_wire(
    wire: WireChatCompletion,
    *,
    provider: str,
    latency_ms: float,
    rate_limit: RateLimitSnapshot | None,
    raw: dict[str, JsonValue] | None = None,
) -> ChatResponse:
    """The first choice as the standard answer; `raw` (the body itself) rides along."""
    choice = min(wire.choices, key=lambda c: c.index)
    return ChatResponse(
        id=wire.id,
        provider=provider,
        model=wire.model,
        content=choice.message.content or "",
        finish_reason=finish_reason(choice.finish_reason),
        raw_finish_reason=choice.finish_reason,
        usage=usage_from_wire(wire.usage),
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        raw=raw,
    )


def finish_reason(raw: str | None) -> FinishReason:
    return _FINISH.get(raw or "", FinishReason.OTHER)


def usage_from_wire(usage: WireUsage | None) -> Usage | None:
    if usage is None:
        return None
    return Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens)


def file_from_wire(wire: WireFile) -> UploadedFile:
    return UploadedFile(
        id=wire.id,
        filename=wire.filename,
        bytes=wire.bytes,
        purpose=FilePurpose(wire.purpose),
        created_at=_time(wire.created_at),
    )


def fine_tune_to_wire(request: FineTuneRequest) -> dict[str, JsonValue]:
    """The /fine_tuning/jobs body: supervised method, idempotency key kept in metadata."""
    hyper = request.hyperparameters.model_dump(exclude_none=True)
    body: dict[str, JsonValue] = {
        "model": request.model,
        "training_file": request.training_file,
        "metadata": {IDEMPOTENCY_METADATA_KEY: request.idempotency_key},
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
    }
    optional: dict[str, JsonValue] = {
        "validation_file": request.validation_file,
        "seed": request.seed,
        "suffix": request.suffix,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def fine_tune_from_wire(wire: WireFineTuningJob, *, provider: str) -> FineTuneJob | None:
    """The normalised job, or None when the status is one this adapter does not know."""
    status = JOB_STATUS.get(wire.status)
    if status is None:
        return None
    error = wire.error
    return FineTuneJob(
        id=wire.id,
        provider=provider,
        status=status,
        raw_status=wire.status,
        model=wire.model,
        trained_model_id=wire.fine_tuned_model,
        progress=1.0 if status is JobStatus.SUCCEEDED else None,
        error=JobError(code=error.code or "unknown", message=error.message or "", param=error.param)
        if error and (error.code or error.message)
        else None,
        created_at=_time(wire.created_at) or datetime.fromtimestamp(0, UTC),
        finished_at=_time(wire.finished_at),
        training_file=wire.training_file,
        validation_file=wire.validation_file,
        hyperparameters=_hyperparameters(wire),
        seed=wire.seed,
        trained_tokens=wire.trained_tokens,
        idempotency_key=(wire.metadata or {}).get(IDEMPOTENCY_METADATA_KEY),
    )


def event_from_wire(wire: WireEvent) -> FineTuneEvent:
    return FineTuneEvent(
        id=wire.id,
        created_at=_time(wire.created_at) or datetime.fromtimestamp(0, UTC),
        level=EventLevel(wire.level),
        message=wire.message,
        type=wire.type,
        data=wire.data,
    )


def checkpoint_from_wire(wire: WireCheckpoint) -> FineTuneCheckpoint:
    return FineTuneCheckpoint(
        id=wire.id,
        created_at=_time(wire.created_at) or datetime.fromtimestamp(0, UTC),
        step_number=wire.step_number,
        provider_model_id=wire.fine_tuned_model_checkpoint,
        metrics={k: v for k, v in wire.metrics.items() if v is not None},
    )


def _hyperparameters(wire: WireFineTuningJob) -> Hyperparameters:
    source = wire.hyperparameters
    if wire.method and wire.method.supervised and wire.method.supervised.hyperparameters:
        source = wire.method.supervised.hyperparameters
    if source is None:
        return Hyperparameters()
    # "auto" is how OpenAI says "not fixed"; ours is None.
    values = {k: v for k, v in source.model_dump().items() if v is not None and v != "auto"}
    return Hyperparameters.model_validate(values)


def _time(stamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None

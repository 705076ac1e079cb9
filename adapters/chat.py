"""Standard request and response models for chat completion (whole or streamed) and text
classification. OpenAI's request shape is the reference: what it has beyond the standard fields
travels in `extra`, for the adapters that can send it (see adapters/README.md, Streaming).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SkipValidation,
    computed_field,
    field_validator,
    model_validator,
)

from adapters.ratelimit import RateLimitSnapshot

__all__ = [
    "EXTRA_FIELDS_SENT_BY",
    "PART_SEPARATOR",
    "ChatChunk",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ClassificationRequest",
    "ClassificationResponse",
    "FinishReason",
    "Role",
    "Usage",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")

# The provider kinds that send a request's `extra` fields on verbatim; the others refuse them
# by name (adapters/chat_support.py). tests/adapters test this against the adapters' own word.
EXTRA_FIELDS_SENT_BY = ("openai",)
# Text parts become one text for providers that take a string: joined by a newline, as vLLM
# does for its string-content chat templates, so parts never run into each other.
PART_SEPARATOR = "\n"
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_EXTRA_FIELDS = 64
# Request fields with a standard home, and where that is.
_STANDARD_REQUEST_FIELDS = {
    **{name: f"set ChatRequest.{name}" for name in ("model", "messages", "temperature")},
    **{name: f"set ChatRequest.{name}" for name in ("top_p", "max_tokens", "stop", "seed")},
    # The openai adapter sends max_tokens under the name its `max_tokens_field` option gives.
    "max_completion_tokens": "set ChatRequest.max_tokens",
    "stream": "call open_chat_stream to stream",
}
_STANDARD_MESSAGE_FIELDS = {
    "role": "set ChatMessage.role",
    "content": "set ChatMessage.content",
}


class Role(StrEnum):
    SYSTEM = "system"
    DEVELOPER = "developer"  # OpenAI's newer name for system instructions
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"  # a tool's result, answering an assistant's tool call (OpenAI)


class FinishReason(StrEnum):
    """Why generation stopped, normalised; the provider's own word is kept beside it."""

    STOP = "stop"
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"
    TOOL_CALLS = "tool_calls"
    OTHER = "other"


def _check_extra(extra: dict[str, JsonValue], standard: dict[str, str]) -> None:
    """Extra field names are identifiers, at most 64 of them, none with a standard home."""
    if len(extra) > _MAX_EXTRA_FIELDS:
        raise ValueError(f"at most {_MAX_EXTRA_FIELDS} extra fields, got {len(extra)}")
    for name in extra:
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"{name[:80]!r} is not a field name (letters, digits and _)")
        if name in standard:
            raise ValueError(f"{name!r} is a standard field, not an extra: {standard[name]}")


class ChatMessage(BaseModel):
    """One turn. `content` is OpenAI's: a string, a list of parts, or null (a turn that only
    calls tools). It is read into `content`, the text (text parts joined, "" for null); `parts`,
    the list as sent; and `null_content`. Other OpenAI message fields (`name`, `tool_calls`,
    `tool_call_id`, ...) go in `extra`, sent only by the adapters that send extras.
    """

    model_config = _FROZEN

    role: Role
    content: str = Field(max_length=1_000_000)
    parts: tuple[dict[str, JsonValue], ...] | None = Field(default=None, max_length=1_000)
    null_content: bool = False
    extra: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _read_openai_content(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        content = data.get("content")
        if content is None and "content" in data:
            return {**data, "content": "", "null_content": True}
        if isinstance(content, list | tuple):
            return {**data, "content": _joined_text(content), "parts": content}
        return data

    @field_validator("parts")
    @classmethod
    def _parts_have_types(
        cls, parts: tuple[dict[str, JsonValue], ...] | None
    ) -> tuple[dict[str, JsonValue], ...] | None:
        for j, part in enumerate(parts or ()):
            kind = part.get("type")
            if not isinstance(kind, str) or not kind:
                raise ValueError(f"content[{j}].type: a part needs a type such as 'text'")
            if kind == "text" and not isinstance(part.get("text"), str):
                raise ValueError(f"content[{j}].text: a text part needs its text")
        return parts

    @field_validator("extra")
    @classmethod
    def _extra_is_bounded(cls, extra: dict[str, JsonValue]) -> dict[str, JsonValue]:
        _check_extra(extra, _STANDARD_MESSAGE_FIELDS)
        return extra

    def non_text_parts(self) -> list[tuple[int, str]]:
        """(index, type) of each part that is not text, for adapters that take text only."""
        return [(j, str(p["type"])) for j, p in enumerate(self.parts or ()) if p["type"] != "text"]


def _joined_text(parts: list[Any] | tuple[Any, ...]) -> str:
    texts = [p.get("text") for p in parts if isinstance(p, dict) and p.get("type") == "text"]
    return PART_SEPARATOR.join(t for t in texts if isinstance(t, str))


class ChatRequest(BaseModel):
    """One chat completion; `None` fields are left out so the provider's default applies."""

    model_config = _FROZEN

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1, max_length=10_000)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stop: list[str] | None = Field(default=None, min_length=1, max_length=4)
    seed: int | None = None
    # OpenAI request fields beyond the standard ones (tools, response_format, n, user, ...):
    # the openai adapter merges them into its body; the others refuse them by name.
    extra: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("extra")
    @classmethod
    def _extra_is_bounded(cls, extra: dict[str, JsonValue]) -> dict[str, JsonValue]:
        _check_extra(extra, _STANDARD_REQUEST_FIELDS)
        return extra


class Usage(BaseModel):
    model_config = _FROZEN

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ChatResponse(BaseModel):
    """The assistant's answer, with what it cost and how long the call took end to end."""

    model_config = _FROZEN

    id: str
    provider: str
    model: str
    content: str
    finish_reason: FinishReason
    raw_finish_reason: str | None = None
    usage: Usage | None = None  # None when the provider did not report it
    latency_ms: float = Field(ge=0.0)
    rate_limit: RateLimitSnapshot | None = None
    # The provider's JSON as it came (openai only), for a gateway that hands it back unchanged.
    # Parsed once, from the body itself, so not validated again; left out of dumps and repr.
    raw: Annotated[dict[str, JsonValue] | None, SkipValidation] = Field(
        default=None, exclude=True, repr=False
    )


class ChatChunk(BaseModel):
    """One piece of a streamed answer, in OpenAI's chunk terms: the first carries `role`, each
    a `content` delta (maybe ""), the last ones `finish_reason` and, when the provider counts
    them, `usage` (OpenAI sends usage in a chunk of its own after the finish).
    """

    model_config = _FROZEN

    id: str
    model: str
    role: Role | None = None
    content: str = ""
    finish_reason: FinishReason | None = None
    raw_finish_reason: str | None = None
    usage: Usage | None = None
    # The provider's chunk JSON as it came (openai only); see ChatResponse.raw.
    raw: Annotated[dict[str, JsonValue] | None, SkipValidation] = Field(
        default=None, exclude=True, repr=False
    )

    @property
    def has_output(self) -> bool:
        """Anything beyond the opening role: text, a finish, usage, or provider-only data."""
        return bool(self.content or self.finish_reason or self.usage or _raw_has_output(self.raw))


_NOT_OUTPUT = frozenset({"role", "obfuscation"})  # obfuscation: random padding, no content


def _raw_has_output(raw: dict[str, JsonValue] | None) -> bool:
    """An OpenAI chunk says something beyond `role` (tool calls, refusal, logprobs, another
    choice's finish...)."""
    choices = raw.get("choices") if raw is not None else None
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        if choice.get("finish_reason") or choice.get("logprobs"):
            return True
        delta = choice.get("delta")
        if isinstance(delta, dict) and any(v for k, v in delta.items() if k not in _NOT_OUTPUT):
            return True
    return False


class ClassificationRequest(BaseModel):
    model_config = _FROZEN

    model: str = Field(min_length=1, max_length=256)
    text: str = Field(min_length=1, max_length=100_000)


class ClassificationResponse(BaseModel):
    """The predicted label and, when the model has them, the probability of every label."""

    model_config = _FROZEN

    provider: str
    model: str
    label: str
    probabilities: dict[str, float] | None = None
    usage: Usage
    latency_ms: float = Field(ge=0.0)

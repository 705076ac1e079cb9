"""Standard request and response models for chat completion and text classification."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, computed_field

from adapters.ratelimit import RateLimitSnapshot

__all__ = [
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


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class FinishReason(StrEnum):
    """Why generation stopped, normalised; the provider's own word is kept beside it."""

    STOP = "stop"
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"
    TOOL_CALLS = "tool_calls"
    OTHER = "other"


class ChatMessage(BaseModel):
    model_config = _FROZEN

    role: Role
    content: str = Field(max_length=1_000_000)


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

"""Anthropic Messages wire format (docs.claude.com/en/api/messages): pure to_wire / from_wire."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue

from adapters.chat import ChatRequest, ChatResponse, FinishReason, Role, Usage
from adapters.ratelimit import RateLimitSnapshot

__all__ = ["WireMessage", "chat_from_wire", "chat_to_wire", "unsupported_reason"]

_FINISH = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
}
_LENIENT = ConfigDict(extra="ignore")


class _WireBlock(BaseModel):
    model_config = _LENIENT
    type: str
    text: str | None = None


class _WireUsage(BaseModel):
    model_config = _LENIENT
    input_tokens: int
    output_tokens: int


class WireMessage(BaseModel):
    model_config = _LENIENT
    id: str
    type: str
    model: str
    content: list[_WireBlock]
    stop_reason: str | None = None
    usage: _WireUsage


def unsupported_reason(request: ChatRequest) -> str | None:
    """Why this request cannot be expressed in the Messages API without changing its meaning."""
    if request.seed is not None:
        return "the Messages API has no `seed`"
    system_at = [i for i, m in enumerate(request.messages) if m.role is Role.SYSTEM]
    if len(system_at) > 1 or system_at not in ([], [0]):
        return "the Messages API takes one system prompt, before the conversation"
    if len(request.messages) == len(system_at):
        return "the Messages API needs at least one user or assistant message"
    return None


def chat_to_wire(request: ChatRequest, default_max_tokens: int) -> dict[str, JsonValue]:
    """The /messages body; the system message moves to `system`, `stop` is `stop_sequences`.

    Anthropic asks for `temperature` or `top_p`, not both (newer models refuse the pair), so
    when a request sets both only `temperature` is sent.
    """
    messages = request.messages
    body: dict[str, JsonValue] = {
        "model": request.model,
        "max_tokens": request.max_tokens or default_max_tokens,  # required by the API
        "messages": [
            {"role": m.role.value, "content": m.content}
            for m in messages
            if m.role is not Role.SYSTEM
        ],
    }
    optional: dict[str, JsonValue] = {
        "system": messages[0].content if messages[0].role is Role.SYSTEM else None,
        "temperature": request.temperature,
        "top_p": request.top_p if request.temperature is None else None,
        "stop_sequences": list(request.stop) if request.stop else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def chat_from_wire(
    wire: WireMessage,
    *,
    provider: str,
    latency_ms: float,
    rate_limit: RateLimitSnapshot | None,
) -> ChatResponse:
    """The text blocks joined in order (non-text blocks such as tool_use are not chat text)."""
    return ChatResponse(
        id=wire.id,
        provider=provider,
        model=wire.model,
        content="".join(b.text or "" for b in wire.content if b.type == "text"),
        finish_reason=_FINISH.get(wire.stop_reason or "", FinishReason.OTHER),
        raw_finish_reason=wire.stop_reason,
        usage=Usage(input_tokens=wire.usage.input_tokens, output_tokens=wire.usage.output_tokens),
        latency_ms=latency_ms,
        rate_limit=rate_limit,
    )

"""Anthropic Messages wire format (docs.claude.com/en/api/messages): pure to_wire / from_wire."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue

from adapters import chat_support
from adapters.chat import ChatMessage, ChatRequest, ChatResponse, FinishReason, Role, Usage
from adapters.ratelimit import RateLimitSnapshot

__all__ = [
    "EXTRA_FIELDS",
    "FINISH",
    "WireMessage",
    "chat_from_wire",
    "chat_to_wire",
    "unsupported_reason",
]

FINISH = {
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


# OpenAI extras the Messages API can say: `user` is its `metadata.user_id` (an opaque end-user
# id for abuse detection in both APIs); `stream_options.include_usage` (usage always comes).
EXTRA_FIELDS = frozenset({"user", "stream_options"})


def unsupported_reason(request: ChatRequest, kind: str = "anthropic") -> str | None:
    """Why this request cannot be expressed in the Messages API without changing its meaning."""
    reason = chat_support.unsupported_reason(request, kind=kind, extra_fields=EXTRA_FIELDS)
    if reason is not None:
        return reason
    if not isinstance(request.extra.get("user", ""), str):
        return "extra.user: must be a string (it is sent as metadata.user_id)"
    if request.seed is not None:
        return "the Messages API has no `seed`"
    system_at = [i for i, m in enumerate(request.messages) if m.role is Role.SYSTEM]
    if len(system_at) > 1 or system_at not in ([], [0]):
        return "the Messages API takes one system prompt, before the conversation"
    if len(request.messages) == len(system_at):
        return "the Messages API needs at least one user or assistant message"
    return None


def chat_to_wire(
    request: ChatRequest, default_max_tokens: int, *, stream: bool = False
) -> dict[str, JsonValue]:
    """The /messages body; the system message moves to `system`, `stop` is `stop_sequences`,
    text parts are text blocks, and `user` is `metadata.user_id`.

    Anthropic asks for `temperature` or `top_p`, not both (newer models refuse the pair), so
    when a request sets both only `temperature` is sent.
    """
    messages = request.messages
    body: dict[str, JsonValue] = {
        "model": request.model,
        "max_tokens": request.max_tokens or default_max_tokens,  # required by the API
        "messages": [
            {"role": m.role.value, "content": _content(m)}
            for m in messages
            if m.role is not Role.SYSTEM
        ],
    }
    user = request.extra.get("user")
    optional: dict[str, JsonValue] = {
        "system": _content(messages[0]) if messages[0].role is Role.SYSTEM else None,
        "temperature": request.temperature,
        "top_p": request.top_p if request.temperature is None else None,
        "stop_sequences": list(request.stop) if request.stop else None,
        "metadata": {"user_id": user} if user is not None else None,
        "stream": True if stream else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def _content(message: ChatMessage) -> JsonValue:
    """A string as a string; text parts as the text blocks they are (the values unchanged)."""
    if message.parts is None:
        return message.content
    return [{"type": "text", "text": part["text"]} for part in message.parts]


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
        finish_reason=FINISH.get(wire.stop_reason or "", FinishReason.OTHER),
        raw_finish_reason=wire.stop_reason,
        usage=Usage(input_tokens=wire.usage.input_tokens, output_tokens=wire.usage.output_tokens),
        latency_ms=latency_ms,
        rate_limit=rate_limit,
    )

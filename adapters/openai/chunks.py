"""OpenAI's chat completion chunks (`data: {chunk}` … `data: [DONE]`) read into ChatChunks.

Each chunk's JSON is parsed once; the standard chunk is read from it and the JSON itself kept
as `raw`, for a gateway that passes OpenAI's chunks on as they came.
"""

from __future__ import annotations

from httpx_sse import ServerSentEvent
from pydantic import BaseModel, ConfigDict, JsonValue

from adapters.chat import ChatChunk, Role
from adapters.http import convert_wire, parse_wire
from adapters.openai.wire import WireUsage, finish_reason, usage_from_wire
from adapters.streaming import error_detail_of, in_band_error, load_event_json

__all__ = ["OpenAIChunkDecoder", "WireChatChunk", "chunk_from_wire"]

_LENIENT = ConfigDict(extra="ignore")
_DONE = "[DONE]"


class _WireDelta(BaseModel):
    model_config = _LENIENT
    role: str | None = None
    content: str | None = None


class _WireChunkChoice(BaseModel):
    model_config = _LENIENT
    index: int = 0
    delta: _WireDelta = _WireDelta()
    finish_reason: str | None = None


class WireChatChunk(BaseModel):
    model_config = _LENIENT
    id: str
    model: str
    choices: list[_WireChunkChoice] = []
    usage: WireUsage | None = None


class OpenAIChunkDecoder:
    """One stream's events; the chunks carry choice 0 (the others are in `raw`)."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.done = False
        self.finished = False

    def decode(self, event: ServerSentEvent) -> list[ChatChunk]:
        if event.data == _DONE:
            self.done = True
            return []
        if not event.data.strip():  # an empty event: a keep-alive
            return []
        payload = load_event_json(event, provider=self.provider)
        if event.event == "error" or "error" in payload:
            raise in_band_error(error_detail_of(payload.get("error")), provider=self.provider)
        wire = parse_wire(WireChatChunk, payload, provider=self.provider)
        chunk = convert_wire(lambda w: chunk_from_wire(w, payload), wire, provider=self.provider)
        self.finished = self.finished or chunk.finish_reason is not None
        return [chunk]


def chunk_from_wire(wire: WireChatChunk, raw: dict[str, JsonValue] | None = None) -> ChatChunk:
    choice = next((c for c in wire.choices if c.index == 0), None)
    delta = choice.delta if choice is not None else _WireDelta()
    raw_finish = choice.finish_reason if choice is not None else None
    return ChatChunk(
        id=wire.id,
        model=wire.model,
        role=Role(delta.role) if delta.role else None,
        content=delta.content or "",
        finish_reason=finish_reason(raw_finish) if raw_finish else None,
        raw_finish_reason=raw_finish,
        usage=usage_from_wire(wire.usage),
        raw=raw,
    )

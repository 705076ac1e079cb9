"""Anthropic's streamed Messages events read into ChatChunks (docs.claude.com, streaming).

message_start → the opening chunk (id, model, role); text deltas → content chunks;
message_delta → the finish chunk with usage (input tokens from message_start unless the delta
counts them too: its counts are cumulative); message_stop ends the stream; ping and event types
this module does not know are skipped, as the docs ask; `error` raises the taxonomy error.
"""

from __future__ import annotations

from httpx_sse import ServerSentEvent
from pydantic import BaseModel, ConfigDict

from adapters.anthropic.wire import FINISH
from adapters.chat import ChatChunk, FinishReason, Role, Usage
from adapters.errors import ProtocolError
from adapters.http import parse_wire
from adapters.streaming import error_detail_of, in_band_error, load_event_json

__all__ = ["AnthropicEventDecoder"]

_LENIENT = ConfigDict(extra="ignore")
_SKIPPED = frozenset({"ping", "content_block_stop"})


class _StartUsage(BaseModel):
    model_config = _LENIENT
    input_tokens: int = 0


class _StartMessage(BaseModel):
    model_config = _LENIENT
    id: str
    model: str
    usage: _StartUsage = _StartUsage()


class _MessageStart(BaseModel):
    model_config = _LENIENT
    message: _StartMessage


class _TextPiece(BaseModel):
    model_config = _LENIENT
    type: str
    text: str | None = None


class _BlockStart(BaseModel):
    model_config = _LENIENT
    content_block: _TextPiece


class _BlockDelta(BaseModel):
    model_config = _LENIENT
    delta: _TextPiece


class _StopDelta(BaseModel):
    model_config = _LENIENT
    stop_reason: str | None = None


class _DeltaUsage(BaseModel):
    model_config = _LENIENT
    output_tokens: int
    input_tokens: int | None = None


class _MessageDelta(BaseModel):
    model_config = _LENIENT
    delta: _StopDelta
    usage: _DeltaUsage | None = None


class AnthropicEventDecoder:
    """One stream's events. Only text is chat text here, as in the non-streamed answer."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.done = False
        self.finished = False
        self._start: _StartMessage | None = None

    def decode(self, event: ServerSentEvent) -> list[ChatChunk]:
        if event.event in _SKIPPED:
            return []
        payload = load_event_json(event, provider=self.provider)
        kind = event.event or str(payload.get("type") or "")
        if kind == "error":
            raise in_band_error(error_detail_of(payload.get("error")), provider=self.provider)
        if kind == "message_start":
            self._start = parse_wire(_MessageStart, payload, provider=self.provider).message
            return [self._chunk(role=Role.ASSISTANT)]
        if kind == "content_block_start":
            return self._text(
                parse_wire(_BlockStart, payload, provider=self.provider).content_block
            )
        if kind == "content_block_delta":
            return self._text(parse_wire(_BlockDelta, payload, provider=self.provider).delta)
        if kind == "message_delta":
            return [self._finish(parse_wire(_MessageDelta, payload, provider=self.provider))]
        if kind == "message_stop":
            self.done = True
        return []

    def _text(self, piece: _TextPiece) -> list[ChatChunk]:
        if piece.type not in ("text", "text_delta") or not piece.text:
            return []  # tool input, thinking, an empty opening block: not chat text
        return [self._chunk(content=piece.text)]

    def _finish(self, event: _MessageDelta) -> ChatChunk:
        start = self._opened()
        stop = event.delta.stop_reason
        usage = None
        if event.usage is not None:
            given = event.usage.input_tokens
            usage = Usage(
                input_tokens=start.usage.input_tokens if given is None else given,
                output_tokens=event.usage.output_tokens,
            )
        self.finished = self.finished or stop is not None
        return self._chunk(
            finish_reason=FINISH.get(stop, FinishReason.OTHER) if stop else None,
            raw_finish_reason=stop,
            usage=usage,
        )

    def _chunk(
        self,
        *,
        role: Role | None = None,
        content: str = "",
        finish_reason: FinishReason | None = None,
        raw_finish_reason: str | None = None,
        usage: Usage | None = None,
    ) -> ChatChunk:
        start = self._opened()
        return ChatChunk(
            id=start.id,
            model=start.model,
            role=role,
            content=content,
            finish_reason=finish_reason,
            raw_finish_reason=raw_finish_reason,
            usage=usage,
        )

    def _opened(self) -> _StartMessage:
        if self._start is None:
            raise ProtocolError("a content event came before message_start", provider=self.provider)
        return self._start

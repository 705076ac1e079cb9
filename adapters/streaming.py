"""Streamed chat: the `ChatStream` that `open_chat_stream` returns, and the server-sent-event
source the HTTP adapters read it from. Opening reads up to the first chunk with output, so a
fault before it raises from the open (fail over) and a fault after it from the iteration.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import suppress
from types import TracebackType
from typing import Protocol, Self

import httpx
import orjson
from httpx_sse import EventSource, ServerSentEvent
from pydantic import JsonValue

from adapters.chat import ChatChunk, FinishReason, Usage
from adapters.errors import (
    ProtocolError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
)
from adapters.http import ErrorDetail, classify_status, translate_transport_errors
from adapters.ratelimit import RateLimitSnapshot

__all__ = [
    "ChatStream",
    "ChunkDecoder",
    "ChunkSource",
    "EventStreamSource",
    "ListSource",
    "error_detail_of",
    "in_band_error",
    "load_event_json",
]

# After the provider's end marker, the rest of the body (the last chunk of the chunked
# encoding) is read for at most this long, so the connection goes back to the pool for reuse.
_DRAIN_SECONDS = 1.0
# In-band error types (OpenAI's and Anthropic's words) → the HTTP status they stand for, so a
# mid-stream error is classified like the same error sent as a status (adapters/http.py).
_IN_BAND_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "api_error": 500,
    "server_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class ChunkSource(Protocol):
    """Where a stream's chunks come from, a batch at a time."""

    async def pull(self, idle_timeout: float | None) -> list[ChatChunk] | None:
        """The next chunks (maybe none) within `idle_timeout` seconds, or None at the end."""
        ...

    async def aclose(self) -> None: ...


class ChunkDecoder(Protocol):
    """One provider's events → chunks (pure, one per stream); raises ProviderError for an
    in-band error or a malformed event."""

    done: bool  # the provider's end-of-stream marker was seen
    finished: bool  # a finish reason was seen: the connection closing after it is a clean end

    def decode(self, event: ServerSentEvent) -> list[ChatChunk]: ...


class ChatStream:
    """An open streamed answer: iterate it (`async for chunk in stream`), then close it.

    Use `async with stream:` or `await stream.aclose()`: closing releases the connection.
    Iterating raises a ProviderError subclass for a fault after the first chunk (connection
    closed mid-stream, malformed event, in-band error, `ProviderTimeoutError` when the provider
    is silent for longer than the idle timeout). `usage` and `finish_reason` fill in as the
    chunks carrying them pass.
    """

    def __init__(
        self,
        provider: str,
        source: ChunkSource,
        *,
        idle_timeout: float | None,
        rate_limit: RateLimitSnapshot | None = None,
    ) -> None:
        self.provider = provider
        self.rate_limit = rate_limit
        self.id = ""
        self.model = ""
        self.first_chunk_ms = 0.0
        self.usage: Usage | None = None
        self.finish_reason: FinishReason | None = None
        self.raw_finish_reason: str | None = None
        self._source = source
        self._idle_timeout = idle_timeout
        self._buffer: deque[ChatChunk] = deque()
        self._closed = False

    @classmethod
    async def open(
        cls,
        provider: str,
        connect: Callable[[], Awaitable[tuple[ChunkSource, RateLimitSnapshot | None]]],
        *,
        timeout: float,
        idle_timeout: float | None,
    ) -> Self:
        """Connect and read up to the first chunk with output, all within `timeout` seconds.

        Raises what `connect` raises (the HTTP status mapped), an in-band error or malformed
        event that came before any output, or ProviderTimeoutError.
        """
        started = time.perf_counter()
        stream: Self | None = None
        try:
            async with asyncio.timeout(timeout) as deadline:
                source, rate_limit = await connect()
                stream = cls(provider, source, idle_timeout=idle_timeout, rate_limit=rate_limit)
                await stream._read_to_output()
        except TimeoutError as exc:
            if stream is not None:
                await stream.aclose()
            if not deadline.expired():
                raise
            raise ProviderTimeoutError(
                f"no first chunk within {timeout:g}s", provider=provider
            ) from exc
        except BaseException:
            if stream is not None:
                await stream.aclose()
            raise
        stream.first_chunk_ms = (time.perf_counter() - started) * 1000.0
        return stream

    @property
    def closed(self) -> bool:
        return self._closed

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        return self

    async def __anext__(self) -> ChatChunk:
        while not self._buffer:
            if self._closed or not await self._pull(self._idle_timeout):
                await self.aclose()
                raise StopAsyncIteration
        return self._buffer.popleft()

    async def aclose(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self._buffer.clear()
            await self._source.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _read_to_output(self) -> None:
        """Buffer chunks until one has output (a role-only opening is held back with it)."""
        while not any(chunk.has_output for chunk in self._buffer):
            if not await self._pull(None):  # only the open's deadline bounds the first chunk
                return

    async def _pull(self, idle_timeout: float | None) -> bool:
        """Buffer the next batch; False at the end. A fault closes the stream and raises."""
        try:
            batch = await self._source.pull(idle_timeout)
        except BaseException:
            await self.aclose()
            raise
        if batch is None:
            return False
        for chunk in batch:
            self._note(chunk)
        self._buffer.extend(batch)
        return True

    def _note(self, chunk: ChatChunk) -> None:
        self.id = self.id or chunk.id
        self.model = self.model or chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason is not None:
            self.finish_reason, self.raw_finish_reason = (
                chunk.finish_reason,
                chunk.raw_finish_reason,
            )


class ListSource:
    """Chunks known in advance (a local model's answer), one batch."""

    def __init__(self, chunks: Iterable[ChatChunk]) -> None:
        self._chunks: list[ChatChunk] | None = list(chunks)

    async def pull(self, idle_timeout: float | None) -> list[ChatChunk] | None:
        chunks, self._chunks = self._chunks, None
        return chunks

    async def aclose(self) -> None:
        self._chunks = None


class EventStreamSource:
    """A `text/event-stream` response read event by event through a provider's decoder."""

    def __init__(self, response: httpx.Response, decoder: ChunkDecoder, *, provider: str) -> None:
        self._response = response
        self._decoder = decoder
        self._provider = provider
        self._events = EventSource(response).aiter_sse()

    async def pull(self, idle_timeout: float | None) -> list[ChatChunk] | None:
        if self._decoder.done:
            await self._drain()
            return None
        event = await self._next_event(idle_timeout)
        if event is None:
            if not self._decoder.finished:
                raise ProtocolError(
                    "the stream ended before the answer finished", provider=self._provider
                )
            return None
        return self._decoder.decode(event)

    async def aclose(self) -> None:
        try:
            await self._events.aclose()
        finally:
            await self._response.aclose()

    async def _next_event(self, idle_timeout: float | None) -> ServerSentEvent | None:
        try:
            async with asyncio.timeout(idle_timeout):
                return await anext(self._events)
        except StopAsyncIteration:
            return None
        except TimeoutError as exc:
            raise ProviderTimeoutError(
                f"the stream was idle for {idle_timeout:g}s", provider=self._provider
            ) from exc
        except httpx.RemoteProtocolError as exc:
            # The peer closed the connection in the middle of the body.
            raise ProviderConnectionError(
                "the connection closed in the middle of the stream", provider=self._provider
            ) from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            # Mapped here, not with a context manager around every event: this is per chunk.
            with translate_transport_errors(provider=self._provider):
                raise exc

    async def _drain(self) -> None:
        """Read what follows the end marker, so the connection can be reused; never raises."""
        with suppress(Exception):
            async with asyncio.timeout(_DRAIN_SECONDS):
                async for _ in self._events:
                    pass


def error_detail_of(node: JsonValue) -> ErrorDetail:
    """ErrorDetail from an error event's `{"message", "type", "code"}` object, tolerant."""
    if not isinstance(node, dict):
        return ErrorDetail(message=str(node)[:300] if node is not None else "")
    return ErrorDetail(
        message=str(node.get("message") or ""),
        type=_text(node.get("type")),
        code=_text(node.get("code")),
    )


def _text(value: JsonValue) -> str | None:
    return str(value) if value is not None else None


def load_event_json(event: ServerSentEvent, *, provider: str) -> dict[str, JsonValue]:
    """An event's data as a JSON object (parsed once, with orjson), or ProtocolError."""
    try:
        value = orjson.loads(event.data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(
            f"malformed JSON in a {event.event or 'message'!r} event", provider=provider
        ) from exc
    if not isinstance(value, dict):
        raise ProtocolError(
            f"a {event.event or 'message'!r} event is not an object", provider=provider
        )
    return value


def in_band_error(detail: ErrorDetail, *, provider: str) -> ProviderError:
    """The taxonomy error for an error event inside an HTTP 200 stream (no status of its own:
    its type stands for one, refined by its code as for any error; `status_code` stays None)."""
    status = _IN_BAND_STATUS.get((detail.type or "").lower(), 500)
    cls = classify_status(status, detail)
    message = f"error in the stream: {detail.message or 'no message'}"
    code = detail.code or detail.type
    if cls is RateLimitedError:
        return RateLimitedError(message, provider=provider, status_code=None, code=code)
    return cls(message, provider=provider, status_code=None, code=code)

"""Streamed chat as server-sent events, passed through as chunks arrive. The stream was
opened through the key pool, so failover happened before the first byte; a fault after it
ends the stream as OpenAI does (an `error` event, then the connection closes, no [DONE]).
The outcome is recorded when the stream ends, however it ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from adapters.chat import ChatChunk
from adapters.errors import ProviderError
from adapters.openai.compat import chunk_to_openai
from adapters.streaming import ChatStream
from gateway.errors import from_provider_error
from gateway.serve import Routed, Usage, outcome
from gateway.state import Gateway
from registry.domain import Team

DONE = b"data: [DONE]\n\n"


def event(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def relay(
    gw: Gateway,
    team: Team,
    routed: Routed,
    stream: ChatStream,
    *,
    include_usage: bool,
    started: float,
) -> AsyncIterator[bytes]:
    """The stream's chunks as SSE events under the endpoint's name; then the outcome."""
    endpoint = routed.table.name
    created = int(time.time())
    error_class: str | None = None
    first: float | None = None
    try:
        async for chunk in stream:
            for payload in _payloads(chunk, endpoint, created, include_usage):
                if first is None:
                    first = time.perf_counter()
                yield event(payload)
        yield DONE
    except ProviderError as exc:
        error = from_provider_error(exc)
        error_class = error.error_class
        body = {"message": error.message, "type": error.type, "param": None, "code": error.code}
        yield event({"error": body})
    except (asyncio.CancelledError, GeneratorExit):
        error_class = "client_disconnected"
        raise
    finally:
        await stream.aclose()
        usage = (
            Usage(stream.usage.input_tokens, stream.usage.output_tokens) if stream.usage else None
        )
        ttft = None if first is None else (first - started) * 1000.0
        served = outcome(routed, team, started, usage, error_class, ttft_ms=ttft)
        gw.record(served, routed.model.model_id)
        gw.metrics.time(endpoint, str(routed.version), time.perf_counter() - started)
        if error_class is not None:
            gw.metrics.error("chat-stream", error_class)


def _payloads(
    chunk: ChatChunk, endpoint: str, created: int, include_usage: bool
) -> list[dict[str, Any]]:
    if chunk.raw is None:
        return chunk_to_openai(chunk, model=endpoint, created=created, include_usage=include_usage)
    raw = {**chunk.raw, "model": endpoint}
    if not include_usage:  # the gateway asked for usage for its own accounts; the client did not
        if raw.get("usage") and not raw.get("choices"):
            return []
        raw.pop("usage", None)
    return [raw]

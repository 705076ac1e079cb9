"""What the openai adapter costs a gateway per answer and per streamed chunk: reading a
completion (json vs orjson), writing it back, decoding one chunk, and a 2,000-chunk stream
from the fake on loopback against bare httpx-sse.

    .venv/bin/python benchmarks/adapters_stream.py

CPU figures of a stream include the fake's own (same process); the difference is ours.
"""

from __future__ import annotations

import asyncio
import json
import time
import timeit
from collections.abc import Callable

import httpx
import orjson
from httpx_sse import ServerSentEvent, aconnect_sse
from pydantic import SecretStr

from adapters.base import Credential
from adapters.chat import ChatMessage, ChatRequest
from adapters.http import parse_wire
from adapters.openai import wire
from adapters.openai.adapter import OpenAIAdapter
from adapters.openai.chunks import OpenAIChunkDecoder
from adapters.registry import create_adapter
from tests.fakes.openai_server import FakeOpenAIServer

COMPLETION = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Your parcel left the depot this morning and arrives tomorrow.",
                "refusal": None,
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 25, "completion_tokens": 14, "total_tokens": 39},
    "system_fingerprint": "fp_x",
}
CHUNK = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "delta": {"content": " parcel"}, "finish_reason": None}],
    "usage": None,
}
WORDS = 2000


def micro(label: str, fn: Callable[[], object], number: int = 20000) -> None:
    print(f"{label:<44} {timeit.timeit(fn, number=number) / number * 1e6:6.2f} us")


def read_completion(loads: Callable[[bytes], object]) -> Callable[[], object]:
    body = json.dumps(COMPLETION).encode()

    def read() -> object:
        value = loads(body)
        parsed = parse_wire(wire.WireChatCompletion, value, provider="openai")  # type: ignore[arg-type]
        return wire.chat_from_wire(parsed, provider="openai", latency_ms=1.0, rate_limit=None)

    return read


async def stream_cpu(server: FakeOpenAIServer, client: httpx.AsyncClient) -> None:
    adapter = create_adapter("openai", base_url=server.base_url, http_client=client)
    assert isinstance(adapter, OpenAIAdapter)
    request = ChatRequest(model="m", messages=[ChatMessage(role="user", content="x")])
    credential = Credential(api_key=SecretStr("sk-bench"))
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    for _ in range(3):
        started = time.process_time()
        async with await adapter.open_chat_stream(credential, request) as stream:
            ours = sum([1 async for _ in stream])
        ours_cpu = time.process_time() - started
        started = time.process_time()
        headers = {"authorization": "Bearer sk-bench"}
        url = f"{server.base_url}/chat/completions"
        async with aconnect_sse(client, "POST", url, json=body, headers=headers) as source:
            bare = sum([1 async for _ in source.aiter_sse()])
        bare_cpu = time.process_time() - started
        print(
            f"stream of {ours} chunks: adapter {ours_cpu * 1e3:.1f} ms CPU, bare httpx-sse "
            f"{bare_cpu * 1e3:.1f} ms ({bare} events); "
            f"adapter's own {(ours_cpu - bare_cpu) / ours * 1e6:.1f} us per chunk"
        )


def main() -> None:
    micro("read a completion, json.loads", read_completion(json.loads))
    micro("read a completion, orjson.loads", read_completion(orjson.loads))
    micro("write it back, json.dumps", lambda: json.dumps(COMPLETION))
    micro("write it back, orjson.dumps", lambda: orjson.dumps(COMPLETION))
    event, decoder = ServerSentEvent(data=json.dumps(CHUNK)), OpenAIChunkDecoder("openai")
    micro("decode one chunk (orjson, wire, ChatChunk)", lambda: decoder.decode(event))
    asyncio.run(idle_timer())
    with FakeOpenAIServer() as server:
        server.replies["m"] = " ".join(["word"] * WORDS)

        async def run() -> None:
            async with httpx.AsyncClient() as client:
                await stream_cpu(server, client)

        asyncio.run(run())


async def idle_timer(times: int = 20000) -> None:
    """The idle timeout the stream sets around each event read."""
    started = time.perf_counter()
    for _ in range(times):
        async with asyncio.timeout(30):
            await asyncio.sleep(0)
    print(f"{'the idle timer per event (asyncio.timeout)':<44} ", end="")
    print(f"{(time.perf_counter() - started) / times * 1e6:6.2f} us (with one loop turn)")


if __name__ == "__main__":
    main()

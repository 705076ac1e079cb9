"""A fake OpenAI upstream fast enough never to be a proxy benchmark's bottleneck.

    python -m benchmarks.gateway_upstream --port 0    # prints "listening on PORT"; stop: SIGTERM

A raw asyncio Protocol (on uvloop when installed) answering any `POST …/chat/completions` with
one fixed completion, or with `"stream": true` a few server-sent events and `data: [DONE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from typing import cast

MODEL = "gpt-bench"
REPLY = "pong"
_COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": REPLY},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
}
_CHUNK_DELTAS: tuple[dict[str, str], ...] = (
    {"role": "assistant", "content": ""},
    {"content": REPLY},
    {},
)


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\nconnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


def _stream_response() -> bytes:
    """OpenAI's framing: chunked transfer, one `data:` event per chunk, then `[DONE]`."""
    events = []
    for delta in _CHUNK_DELTAS:
        chunk = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": None if delta else "stop"}],
        }
        events.append(f"data: {json.dumps(chunk)}\n\n".encode())
    events.append(b"data: [DONE]\n\n")
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
    )
    body = b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in events)
    return head + body + b"0\r\n\r\n"


COMPLETION_RESPONSE = _response("200 OK", "application/json", json.dumps(_COMPLETION).encode())
STREAM_RESPONSE = _stream_response()
NOT_FOUND_RESPONSE = _response(
    "404 Not Found",
    "application/json",
    b'{"error":{"message":"only POST .../chat/completions here","type":"invalid_request_error"}}',
)
MAX_HEAD = 64 * 1024


def wants_stream(body: bytes) -> bool:
    if b"stream" not in body:
        return False
    try:
        return json.loads(body).get("stream") is True
    except (ValueError, AttributeError):
        return False


def answer(request_line: bytes, body: bytes) -> bytes:
    method, _, rest = request_line.partition(b" ")
    path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
    if method != b"POST" or not path.endswith(b"/chat/completions"):
        return NOT_FOUND_RESPONSE
    return STREAM_RESPONSE if wants_stream(body) else COMPLETION_RESPONSE


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


class UpstreamProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive with Content-Length bodies (what wrk, httpx and aiohttp send)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            head = self.buffer[:end]
            try:
                size = content_length(head)
            except ValueError:
                self.transport.close()
                return
            if len(self.buffer) < end + 4 + size:
                return
            body = self.buffer[end + 4 : end + 4 + size]
            self.buffer = self.buffer[end + 4 + size :]
            self.transport.write(answer(head.split(b"\r\n", 1)[0], body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on {bound}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    args = parser.parse_args()
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()

"""What every fake provider shares: a real 127.0.0.1 socket served by uvicorn in a thread, a
per-key script of faults, and a record of every request (with the key it carried).

    with FakeOpenAIServer() as server:
        server.script("key-a", Fault.rate_limited(retry_after="2"), Fault.server_error())
        server.always("key-b", Fault.unauthorized())
        server.script("key-c", Fault.stream_reset(after=3))   # a streamed answer breaks
        ...
        assert server.keys_used() == ["key-a", "key-a", "key-b"]

Streamed answers (`event_stream`) meet a scripted `stream_*` fault after that many events: the
connection is dropped, an in-band error event is sent, the stream stalls, or a malformed event
comes, or the body just ends. A stream fault met by a request that does not stream is no fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Self

import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

__all__ = ["FakeServer", "Fault", "RecordedRequest", "json_response", "refusing_port", "sse"]

StreamBreak = Literal["reset", "error", "stall", "malformed", "end"]


@dataclass(frozen=True)
class Fault:
    """One scripted answer; each fake renders `message`/`type`/`code` in its own error shape.

    `status=None` with `hang_seconds` only delays the normal answer.
    """

    status: int | None = None
    type: str | None = None
    code: str | None = None
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0
    raw_body: bytes | None = None  # sent as is with HTTP 200 (malformed JSON and the like)
    in_body: bool = False  # for providers that answer HTTP 200 with the status in the body
    stream_break: StreamBreak | None = None  # how a streamed answer breaks, after_events in
    after_events: int = 0
    stall_seconds: float = 0.0

    @classmethod
    def stream_reset(cls, *, after: int) -> Fault:
        """The connection drops after `after` events, in the middle of the body."""
        return cls(stream_break="reset", after_events=after)

    @classmethod
    def stream_error(
        cls,
        *,
        after: int,
        type: str = "server_error",
        message: str = "The server had an error while processing your request.",
    ) -> Fault:
        """An in-band error event after `after` events (HTTP 200 already sent), then the end."""
        return cls(type=type, message=message, stream_break="error", after_events=after)

    @classmethod
    def stream_stall(cls, *, after: int, seconds: float = 30.0) -> Fault:
        """Silence after `after` events for `seconds` (or until the client leaves), then the rest."""
        return cls(stream_break="stall", after_events=after, stall_seconds=seconds)

    @classmethod
    def stream_end(cls, *, after: int) -> Fault:
        """The body ends cleanly after `after` events, without the provider's end marker."""
        return cls(stream_break="end", after_events=after)

    @classmethod
    def stream_malformed(cls, *, after: int) -> Fault:
        """An event whose data is not JSON after `after` events, then the end."""
        return cls(stream_break="malformed", after_events=after)

    @classmethod
    def rate_limited(
        cls,
        *,
        retry_after: str | None = None,
        retry_after_ms: str | None = None,
        reset_requests: str | None = None,
        reset_tokens: str | None = None,
        remaining_requests: str | None = None,
        remaining_tokens: str | None = None,
    ) -> Fault:
        named = {
            "retry-after": retry_after,
            "retry-after-ms": retry_after_ms,
            "x-ratelimit-reset-requests": reset_requests,
            "x-ratelimit-reset-tokens": reset_tokens,
            "x-ratelimit-remaining-requests": remaining_requests,
            "x-ratelimit-remaining-tokens": remaining_tokens,
        }
        headers = {k: v for k, v in named.items() if v is not None}
        return cls(
            429, "requests", "rate_limit_exceeded", "Rate limit reached for requests", headers
        )

    @classmethod
    def unauthorized(cls) -> Fault:
        # The message echoes the key the way OpenAI's does, so redaction can be proven.
        return cls(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided")

    @classmethod
    def forbidden(cls) -> Fault:
        return cls(403, "permission_error", "unsupported_country_region_territory", "Forbidden")

    @classmethod
    def quota_exhausted(cls) -> Fault:
        return cls(
            429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota"
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls(status, "server_error", None, "The server had an error processing your request")

    @classmethod
    def overloaded(cls, status: int = 529) -> Fault:
        return cls(status, "overloaded_error", None, "Overloaded")

    @classmethod
    def context_length_exceeded(cls) -> Fault:
        return cls(
            400,
            "invalid_request_error",
            "context_length_exceeded",
            "This model's maximum context length is 8192 tokens",
        )

    @classmethod
    def bad_request(cls, message: str = "Invalid request", status: int = 400) -> Fault:
        return cls(status, "invalid_request_error", None, message)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        return cls(hang_seconds=seconds)

    @classmethod
    def malformed_json(cls) -> Fault:
        return cls(raw_body=b'{"id": "chatcmpl-broken", "choices": [')

    @classmethod
    def unexpected_body(cls) -> Fault:
        return cls(raw_body=b'{"hello": "world"}')


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    key: str | None
    headers: dict[str, str]
    body: bytes
    query: str = ""  # the raw query string, as sent
    peer: str = ""  # the client's host:port: one per connection, so reuse shows

    def json(self) -> Any:
        return json.loads(self.body)


class FakeServer:
    """Base of the fakes: subclasses give `routes()`, `key_of()` and `render_fault()`."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._script: dict[str | None, deque[Fault]] = defaultdict(deque)
        self._always: dict[str | None, Fault] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # scripting

    def script(self, key: str | None, *faults: Fault) -> None:
        """Answer the next requests made with `key` with these faults, once each, in order."""
        with self._lock:
            self._script[key].extend(faults)

    def always(self, key: str | None, fault: Fault | None) -> None:
        """Answer every request made with `key` with this fault (None: stop doing so)."""
        with self._lock:
            if fault is None:
                self._always.pop(key, None)
            else:
                self._always[key] = fault

    def reset(self) -> None:
        """Forget scripts and recorded requests (subclasses also forget their state)."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self._always.clear()

    def keys_used(self) -> list[str | None]:
        with self._lock:
            return [r.key for r in self.requests]

    def requests_to(self, path_suffix: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(path_suffix)]

    def open_connections(self) -> int:
        """Client connections the server holds open now (kept-alive ones included)."""
        return len(self._server.server_state.connections) if self._server is not None else 0

    # lifecycle

    @property
    def url(self) -> str:
        if self._socket is None:
            raise RuntimeError("server is not started")
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        # The socket listens before uvicorn runs, so clients can connect at once: no waiting.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this; without it Nagle + delayed ACK add 40 ms a request.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        app = Starlette(routes=self.routes())
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        # Building the config set up uvicorn's logging; a deliberate reset is not an error.
        error_log = logging.getLogger("uvicorn.error")
        if _RESET_FILTER not in error_log.filters:
            error_log.addFilter(_RESET_FILTER)
        sockets = [self._socket]
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": sockets}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # for subclasses

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def key_of(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return None
        return auth.removeprefix("Bearer ").strip() or None

    def render_fault(self, fault: Fault, key: str | None) -> Response:
        raise NotImplementedError

    async def intercept(self, request: Request) -> tuple[str | None, bytes, Response | None]:
        """Record the request; return its key, body, and the scripted fault response if any."""
        key, body, response, _ = await self.intercept_stream(request)
        return key, body, response

    async def intercept_stream(
        self, request: Request
    ) -> tuple[str | None, bytes, Response | None, Fault | None]:
        """As `intercept`, and the scripted stream fault, for a handler that streams."""
        body = await request.body()
        key = self.key_of(request)
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.url.path,
                    key,
                    dict(request.headers),
                    body,
                    request.url.query,
                    f"{request.client.host}:{request.client.port}" if request.client else "",
                )
            )
            queue = self._script.get(key)
            fault = queue.popleft() if queue else self._always.get(key)
        if fault is None:
            return key, body, None, None
        if fault.stream_break is not None:
            return key, body, None, fault
        if fault.hang_seconds:
            await self._hang(fault.hang_seconds)
            if fault.status is None and fault.raw_body is None:
                return key, body, None, None
        if fault.raw_body is not None:
            return key, body, Response(fault.raw_body, 200, media_type="application/json"), None
        return key, body, self.render_fault(fault, key), None

    def event_stream(
        self,
        events: Iterable[bytes],
        fault: Fault | None,
        error_event: Callable[[Fault], bytes],
        headers: dict[str, str] | None = None,
    ) -> StreamingResponse:
        """A text/event-stream answer of these events, broken as `fault` says."""
        return StreamingResponse(
            self._stream_events(list(events), fault, error_event),
            media_type="text/event-stream",
            headers=headers,
        )

    async def _stream_events(
        self, events: list[bytes], fault: Fault | None, error_event: Callable[[Fault], bytes]
    ) -> AsyncIterator[bytes]:
        for sent, event in enumerate(events):
            if fault is not None and sent == fault.after_events:
                if fault.stream_break == "reset":
                    raise _StreamReset  # uvicorn drops the connection mid-body
                if fault.stream_break == "error":
                    yield error_event(fault)
                    return
                if fault.stream_break == "malformed":
                    yield b'data: {"id": "broken", "choices": [\n\n'
                    return
                if fault.stream_break == "end":
                    return
                await self._hang(fault.stall_seconds)
            yield event

    async def _hang(self, seconds: float) -> None:
        """Sleep, but wake when the server stops, so a hung request never delays teardown."""
        if self._release is None:
            self._loop = asyncio.get_running_loop()
            self._release = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), timeout=seconds)


def json_response(
    payload: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> Response:
    return Response(
        json.dumps(payload), status, headers, media_type="application/json", background=background
    )


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A 127.0.0.1 port that refuses every connection while the block runs.

    The socket is bound (so nothing else can take the port) but never listens, so the kernel
    answers each connection attempt with a reset: "connection refused", at once, every time.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: `event:` when named, then `data:` (JSON unless already text)."""
    text = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


class _StreamReset(Exception):
    """Raised inside a streamed answer so that uvicorn drops the connection mid-body."""


class _DropResetLogs(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _StreamReset))


_RESET_FILTER = _DropResetLogs()

"""A small HTTP/1.1 client for the upstream leg's plain calls: one request, its answer read
whole, over keep-alive connections pooled per origin, the answer parsed by httptools (the
parser uvicorn uses). py-spy showed aiohttp's client machinery to be over a quarter of a
gateway request's CPU; this does the same exchange in a few protocol callbacks.

Only what a plain call needs: no redirects, cookies, proxies or compression handling (the
body comes back as sent; httpx decodes it). Faults are raised as the httpx errors they mean,
as `upstream_transport` does for aiohttp's, so the adapters classify them alike. A request
on a pooled connection that the server had closed meanwhile (it ends before any byte of an
answer) is sent once more on a new connection, as browsers and httpx do.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools
import httpx

MAX_IDLE_PER_ORIGIN = 256
_FORBIDDEN = frozenset("\r\n\0")
_SELF_WRITTEN = frozenset({"host", "content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.WriteTransport | None = None
        self.closed = False
        self._answer: asyncio.Future[Answer] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self.received = False  # a byte of the current answer arrived
        self.last_data = 0.0
        self._framed = False  # the answer says where it ends (a length, or chunks)
        self._status = 0
        self._read_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport: TCP

    def data_received(self, data: bytes) -> None:
        self.received = True
        self.last_data = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is None and self._status and not self._framed:  # the body ran to the close
            self._finish(Answer(self._status, self._headers, b"".join(self._body)))
        elif exc is None:
            self._fail(httpx.RemoteProtocolError("the upstream closed the connection"))
        else:
            self._fail(httpx.ReadError(str(exc) or type(exc).__name__))

    # -- httptools callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.close()
        self._finish(Answer(self._status, self._headers, b"".join(self._body)))

    # -- the exchange ----------------------------------------------------------------------

    def send(self, request: bytes, read_timeout: float | None) -> asyncio.Future[Answer]:
        """Write the request; the future is the answer, or the error that ended it. With
        `read_timeout`, no byte for that long ends it with ReadTimeout."""
        assert self.transport is not None
        self._answer = self._loop.create_future()
        self._headers, self._body, self.received = [], [], False
        self._framed, self._status = False, 0
        self.last_data = self._loop.time()
        if read_timeout is not None:
            self._read_timer = self._loop.call_later(read_timeout, self._check_read, read_timeout)
        self.transport.write(request)
        return self._answer

    def _check_read(self, read_timeout: float) -> None:
        """One timer per exchange, re-armed for what is left while bytes keep coming."""
        remaining = self.last_data + read_timeout - self._loop.time()
        if remaining > 0:
            self._read_timer = self._loop.call_later(remaining, self._check_read, read_timeout)
            return
        self._read_timer = None
        self._fail(httpx.ReadTimeout("read timed out"))

    def _finish(self, answer: Answer) -> None:
        self._stop_timer()
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(answer)

    def _fail(self, error: httpx.TransportError) -> None:
        self._stop_timer()
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self.close()

    def _stop_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamHTTP:
    """Create in the running loop; `aclose` closes every pooled connection."""

    def __init__(self, *, max_connections: int = 512) -> None:
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._slots = asyncio.Semaphore(max_connections)
        self._tls: ssl.SSLContext | None = None

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
    ) -> Answer:
        """Raises httpx.UnsupportedProtocol, LocalProtocolError, ConnectError,
        ConnectTimeout, ReadTimeout, ReadError or RemoteProtocolError, naming the request."""
        try:
            origin, target = _split(url)
            request = _head(method, target, origin, headers, body) + (body or b"")
            async with self._slots:
                return await self._exchange(origin, request, connect_timeout, read_timeout)
        except httpx.TransportError as exc:
            with contextlib.suppress(httpx.InvalidURL):  # built on the error path only
                exc.request = httpx.Request(method, url)
            raise

    async def _exchange(
        self, origin: Origin, request: bytes, connect: float | None, read: float | None
    ) -> Answer:
        reused = self._idle_connection(origin)
        connection = reused or await self._connect(origin, connect)
        try:
            try:
                answer = await connection.send(request, read)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                if reused is None or connection.received:
                    raise
                # The server had closed the pooled connection before this request: again,
                # on a new one.
                connection = await self._connect(origin, connect)
                answer = await connection.send(request, read)
        except BaseException:  # failed or cancelled mid-exchange: never pooled again
            connection.close()
            raise
        if not connection.closed:
            self._idle.setdefault(origin, deque()).append(connection)
        return answer

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = self._context() if origin.scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop),
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("connect timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        idle = self._idle.get(origin)
        if idle is not None and len(idle) >= MAX_IDLE_PER_ORIGIN:
            idle.popleft().close()
        return connection

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


def _split(url: str) -> tuple[Origin, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise httpx.UnsupportedProtocol(f"not an http(s) URL: {parts.scheme or '?'}://…")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Origin(parts.scheme, parts.hostname, port), target


def _head(
    method: str, target: str, origin: Origin, headers: dict[str, str], body: bytes | None
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    for name, value in headers.items():
        if name.lower() in _SELF_WRITTEN:
            continue
        if _FORBIDDEN.intersection(name) or _FORBIDDEN.intersection(value):
            raise httpx.LocalProtocolError(f"header {name!r} holds a line break or NUL")
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body or b'')}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise httpx.LocalProtocolError("a header holds characters HTTP/1.1 cannot carry") from None

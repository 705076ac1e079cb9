"""The upstream leg's own HTTP/1.1 client against a raw TCP server on 127.0.0.1 that answers
as scripted: lengths, chunks, a body running to the close, keep-alive reuse, a pooled
connection the server closed (sent again), silence (ReadTimeout), header injection refused."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest

from gateway.upstream_http import UpstreamHTTP

T = TypeVar("T")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
TO_CLOSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"
Script = Callable[[int, bytes], bytes | None]  # (connection number, request) → answer


async def _serve(script: Script, use: Callable[[str, list[bytes]], Awaitable[T]]) -> T:
    """A server answering each request per `script`: None = close without answering."""
    requests: list[bytes] = []
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        number = connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                request = head + await reader.readexactly(length)
                requests.append(request)
                answer = script(number, request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await use(f"http://127.0.0.1:{port}", requests)
    finally:
        server.close()


def _run(script: Script, use: Callable[[str, list[bytes]], Awaitable[T]]) -> T:
    return asyncio.run(_serve(script, use))


def test_lengths_chunks_and_a_body_to_the_close_are_read_whole() -> None:
    answers = iter([OK, CHUNKED, TO_CLOSE])

    async def use(url: str, requests: list[bytes]) -> list[bytes]:
        http = UpstreamHTTP()
        bodies = []
        for _ in range(3):
            answer = await http.request(
                "POST",
                f"{url}/v1/x?a=1",
                {"authorization": "Bearer k"},
                b'{"q":1}',
                connect_timeout=5,
                read_timeout=5,
            )
            assert answer.status == 200
            bodies.append(answer.body)
        await http.aclose()
        assert requests[0].startswith(b"POST /v1/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"\r\nauthorization: Bearer k\r\nContent-Length: 7\r\n\r\n" in requests[0]
        return bodies

    assert _run(lambda n, r: next(answers), use) == [b"ok", b"abcde", b"until the end"]


def test_a_kept_alive_connection_is_reused_and_one_closed_meanwhile_is_sent_again() -> None:
    seen: list[int] = []

    def script(connection: int, request: bytes) -> bytes | None:
        seen.append(connection)
        if connection == 1 and len(seen) == 3:
            return None  # the server dropped the idle connection: no answer on it
        return OK

    async def use(url: str, requests: list[bytes]) -> int:
        http = UpstreamHTTP()
        for _ in range(3):
            answer = await http.request("GET", url, {}, None, connect_timeout=5, read_timeout=5)
            assert answer.body == b"ok"
        await http.aclose()
        return len(requests)

    assert _run(script, use) == 4  # the third request went twice: once lost, once answered
    assert seen == [1, 1, 1, 2]


def test_silence_is_a_read_timeout_and_a_refused_port_a_connect_error() -> None:
    async def use(url: str, requests: list[bytes]) -> None:
        http = UpstreamHTTP()
        with pytest.raises(httpx.ReadTimeout) as caught:
            await http.request("GET", url, {}, None, connect_timeout=5, read_timeout=0.2)
        assert caught.value.request.url.port == httpx.URL(url).port  # it names where
        await http.aclose()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(3)
        writer.close()

    async def silent() -> None:
        server = await asyncio.start_server(hang, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            await use(f"http://127.0.0.1:{port}", [])
        finally:
            server.close()
        with pytest.raises(httpx.ConnectError):
            await UpstreamHTTP().request(
                "GET", f"http://127.0.0.1:{port}/", {}, None, connect_timeout=5, read_timeout=5
            )

    asyncio.run(silent())


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"x-evil": "a\r\nx-injected: 1"}, "line break"),
        ({"x-name": "caf\u00e9\u2603"}, "cannot carry"),
    ],
)
def test_a_header_that_would_break_the_request_is_refused(
    headers: dict[str, str], says: str
) -> None:
    async def go() -> None:
        with pytest.raises(httpx.LocalProtocolError, match=says):
            await UpstreamHTTP().request(
                "GET", "http://127.0.0.1:9/", headers, None, connect_timeout=1, read_timeout=1
            )

    asyncio.run(go())

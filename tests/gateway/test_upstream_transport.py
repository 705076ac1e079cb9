"""The upstream transport (httpx over aiohttp) behaves as httpx's own for what the adapters
use: bodies, headers, status codes, timeouts and connection faults as httpx errors; and so
does the gateway's LeanClient, whose plain calls skip httpx's layers (every test runs with
both clients)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from adapters.base import Credential
from adapters.chat import ChatMessage, ChatRequest, Role
from adapters.errors import ProviderConnectionError, ProviderTimeoutError, RateLimitedError
from adapters.registry import chat_adapter, create_adapter
from gateway.upstream_transport import AiohttpTransport, LeanClient
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.server import Fault
from tests.gateway.support import free_socket

T = TypeVar("T")
KEY = Credential(api_key="sk-transport-test")  # type: ignore[arg-type]
REQUEST = ChatRequest(model="gpt-x", messages=[ChatMessage(role=Role.USER, content="hello")])


Use = Callable[[httpx.AsyncClient], Awaitable[T]]


@pytest.fixture(params=["httpx", "lean"])
def with_client(request: pytest.FixtureRequest) -> Callable[[Use[T]], T]:
    """Run `use` with an httpx client over the transport, or with the gateway's LeanClient."""

    def run(use: Use[T]) -> T:
        async def go() -> T:
            client = (
                httpx.AsyncClient(transport=AiohttpTransport())
                if request.param == "httpx"
                else LeanClient(AiohttpTransport(), timeout=httpx.Timeout(5.0))
            )
            async with client:
                return await use(client)

        return asyncio.run(go())

    return run


def test_the_openai_adapter_works_through_it(
    openai_server: FakeOpenAIServer, with_client: Callable[[Use[Any]], Any]
) -> None:
    async def chat(client: httpx.AsyncClient) -> str:
        adapter = chat_adapter(
            create_adapter("openai", base_url=openai_server.base_url, http_client=client)
        )
        return (await adapter.chat(KEY, REQUEST)).content

    assert with_client(chat) == "echo: hello"
    [sent] = openai_server.requests_to("/chat/completions")
    assert sent.key == "sk-transport-test" and sent.json()["messages"][0]["content"] == "hello"


def test_status_and_headers_reach_the_adapters_error_mapping(
    openai_server: FakeOpenAIServer, with_client: Callable[[Use[Any]], Any]
) -> None:
    openai_server.script("sk-transport-test", Fault.rate_limited(retry_after="7"))

    async def chat(client: httpx.AsyncClient) -> None:
        adapter = chat_adapter(
            create_adapter("openai", base_url=openai_server.base_url, http_client=client)
        )
        await adapter.chat(KEY, REQUEST)

    with pytest.raises(RateLimitedError) as caught:
        with_client(chat)
    assert caught.value.retry_after == 7


def test_a_read_timeout_is_httpx_read_timeout(
    openai_server: FakeOpenAIServer, with_client: Callable[[Use[Any]], Any]
) -> None:
    openai_server.script("sk-transport-test", Fault.hang(5))

    async def chat(client: httpx.AsyncClient) -> None:
        adapter = chat_adapter(
            create_adapter("openai", base_url=openai_server.base_url, http_client=client)
        )
        await adapter.chat(KEY, REQUEST, timeout=0.2)

    with pytest.raises(ProviderTimeoutError):
        with_client(chat)


def test_a_refused_connection_is_a_connection_error(with_client: Callable[[Use[Any]], Any]) -> None:
    with free_socket() as sock:
        port = sock.getsockname()[1]  # bound, never listening: connections are refused

        async def chat(client: httpx.AsyncClient) -> None:
            url = f"http://127.0.0.1:{port}/v1"
            adapter = chat_adapter(create_adapter("openai", base_url=url, http_client=client))
            await adapter.chat(KEY, REQUEST)

        with pytest.raises(ProviderConnectionError):
            with_client(chat)


def test_a_streamed_body_arrives_in_pieces(
    openai_server: FakeOpenAIServer, with_client: Callable[[Use[Any]], Any]
) -> None:
    async def lines(client: httpx.AsyncClient) -> list[str]:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": "Bearer sk-transport-test"}
        url = f"{openai_server.base_url}/chat/completions"
        async with client.stream("POST", url, json=body, headers=headers) as response:
            assert response.status_code == 200
            return [line async for line in response.aiter_lines()]

    assert "echo: hi" in "".join(with_client(lines))


def test_a_plain_call_sends_the_clients_default_headers_and_decodes_gzip(
    openai_server: FakeOpenAIServer,
) -> None:
    """LeanClient's own path: httpx's default headers go out, a compressed answer comes
    back decoded, and an error answer carries the request that names where it went."""
    import gzip

    async def call(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        url = f"{openai_server.base_url}/chat/completions"
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"x-trace": "1", "authorization": "Bearer sk-transport-test"}
        ok = await client.request("POST", url, json=body, headers=headers)
        missing = await client.request("GET", f"{openai_server.base_url}/no-such-route")
        return ok, missing

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with LeanClient(AiohttpTransport(), timeout=httpx.Timeout(5.0)) as client:
            return await call(client)

    ok, missing = asyncio.run(run())
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "echo: hi"
    [sent] = openai_server.requests_to("/chat/completions")
    assert sent.headers["user-agent"].startswith("python-httpx/")
    assert sent.headers["x-trace"] == "1" and sent.headers["content-type"] == "application/json"
    assert missing.status_code == 404 and str(missing.request.url).endswith("/no-such-route")
    compressed = httpx.Response(
        200, headers=[(b"content-encoding", b"gzip")], content=gzip.compress(b'{"a": 1}')
    )
    assert compressed.json() == {"a": 1}  # what LeanClient relies on: httpx decodes content


def test_a_proxy_named_by_the_environment_carries_the_plain_calls_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The small direct client knows no proxies, so with HTTP_PROXY set the call must reach
    the proxy (absolute-form request line), never the origin it names."""
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        await reader.readexactly(length)
        seen.append(head.split(b"\r\n")[0])
        body = b'{"via": "proxy"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        await writer.drain()
        writer.close()

    async def go() -> Any:
        server = await asyncio.start_server(proxy, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with server, LeanClient(AiohttpTransport(), timeout=httpx.Timeout(5.0)) as client:
            answer = await client.post(
                "http://upstream.example:8081/v1/chat/completions", json={"a": 1}
            )
            return answer.json()

    assert asyncio.run(go()) == {"via": "proxy"}
    assert seen == [b"POST http://upstream.example:8081/v1/chat/completions HTTP/1.1"]

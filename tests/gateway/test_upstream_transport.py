"""The upstream transport (httpx over aiohttp) behaves as httpx's own for what the adapters
use: bodies, headers, status codes, timeouts and connection faults as httpx errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest

from adapters.base import Credential
from adapters.chat import ChatMessage, ChatRequest, Role
from adapters.errors import ProviderConnectionError, ProviderTimeoutError, RateLimitedError
from adapters.registry import chat_adapter, create_adapter
from gateway.upstream_transport import AiohttpTransport
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.server import Fault
from tests.gateway.support import free_socket

T = TypeVar("T")
KEY = Credential(api_key="sk-transport-test")  # type: ignore[arg-type]
REQUEST = ChatRequest(model="gpt-x", messages=[ChatMessage(role=Role.USER, content="hello")])


def _with_client(use: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def run() -> T:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
            return await use(client)

    return asyncio.run(run())


def test_the_openai_adapter_works_through_it(openai_server: FakeOpenAIServer) -> None:
    async def chat(client: httpx.AsyncClient) -> str:
        adapter = chat_adapter(
            create_adapter("openai", base_url=openai_server.base_url, http_client=client)
        )
        return (await adapter.chat(KEY, REQUEST)).content

    assert _with_client(chat) == "echo: hello"
    [sent] = openai_server.requests_to("/chat/completions")
    assert sent.key == "sk-transport-test" and sent.json()["messages"][0]["content"] == "hello"


def test_status_and_headers_reach_the_adapters_error_mapping(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.script("sk-transport-test", Fault.rate_limited(retry_after="7"))

    async def chat(client: httpx.AsyncClient) -> None:
        adapter = chat_adapter(
            create_adapter("openai", base_url=openai_server.base_url, http_client=client)
        )
        await adapter.chat(KEY, REQUEST)

    with pytest.raises(RateLimitedError) as caught:
        _with_client(chat)
    assert caught.value.retry_after == 7


def test_a_read_timeout_is_httpx_read_timeout(openai_server: FakeOpenAIServer) -> None:
    openai_server.script("sk-transport-test", Fault.hang(5))

    async def chat(client: httpx.AsyncClient) -> None:
        adapter = chat_adapter(
            create_adapter("openai", base_url=openai_server.base_url, http_client=client)
        )
        await adapter.chat(KEY, REQUEST, timeout=0.2)

    with pytest.raises(ProviderTimeoutError):
        _with_client(chat)


def test_a_refused_connection_is_a_connection_error() -> None:
    with free_socket() as sock:
        port = sock.getsockname()[1]  # bound, never listening: connections are refused

        async def chat(client: httpx.AsyncClient) -> None:
            url = f"http://127.0.0.1:{port}/v1"
            adapter = chat_adapter(create_adapter("openai", base_url=url, http_client=client))
            await adapter.chat(KEY, REQUEST)

        with pytest.raises(ProviderConnectionError):
            _with_client(chat)


def test_a_streamed_body_arrives_in_pieces(openai_server: FakeOpenAIServer) -> None:
    async def lines(client: httpx.AsyncClient) -> list[str]:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": "Bearer sk-transport-test"}
        url = f"{openai_server.base_url}/chat/completions"
        async with client.stream("POST", url, json=body, headers=headers) as response:
            assert response.status_code == 200
            return [line async for line in response.aiter_lines()]

    assert "echo: hi" in "".join(_with_client(lines))

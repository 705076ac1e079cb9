"""Fixtures for the adapters tests: fake providers on real sockets, and a client to reach them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.asyncgen_server import FakeAsyncGenServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# One server per module (starting is instant, stopping takes uvicorn a tick); each test gets it
# reset, with no script, no recorded request and no jobs left by the test before.


@pytest.fixture(scope="module")
def _openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def openai_server(_openai_server: FakeOpenAIServer) -> FakeOpenAIServer:
    _openai_server.reset()
    return _openai_server


@pytest.fixture(scope="module")
def _anthropic_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture
def anthropic_server(_anthropic_server: FakeAnthropicServer) -> FakeAnthropicServer:
    _anthropic_server.reset()
    return _anthropic_server


@pytest.fixture(scope="module")
def _asyncgen_server() -> Iterator[FakeAsyncGenServer]:
    with FakeAsyncGenServer() as server:
        yield server


@pytest.fixture
def asyncgen_server(_asyncgen_server: FakeAsyncGenServer) -> FakeAsyncGenServer:
    _asyncgen_server.reset()
    _asyncgen_server.signing = "kie"
    _asyncgen_server.polls_to_finish = 2
    return _asyncgen_server


@pytest.fixture(scope="module")
def _webhooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def webhooks(_webhooks: WebhookReceiver) -> WebhookReceiver:
    _webhooks.reset()
    return _webhooks

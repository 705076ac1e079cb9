"""Fixtures for the adapters tests: fake providers on real sockets, and a client to reach them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.asyncgen_server import FakeAsyncGenServer
from tests.fakes.webhook_receiver import WebhookReceiver


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

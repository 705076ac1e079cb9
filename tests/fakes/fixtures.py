"""Pytest fixtures for the fake providers, shared by every test package that calls them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.openai_videos_server import FakeOpenAIVideoServer
from tests.fakes.replicate_server import FakeReplicateServer
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
def _replicate_server() -> Iterator[FakeReplicateServer]:
    with FakeReplicateServer() as server:
        yield server


@pytest.fixture
def replicate_server(_replicate_server: FakeReplicateServer) -> FakeReplicateServer:
    _replicate_server.reset()
    return _replicate_server


@pytest.fixture(scope="module")
def _openai_videos() -> Iterator[FakeOpenAIVideoServer]:
    with FakeOpenAIVideoServer() as server:
        yield server


@pytest.fixture
def openai_videos(_openai_videos: FakeOpenAIVideoServer) -> FakeOpenAIVideoServer:
    _openai_videos.reset()
    return _openai_videos


@pytest.fixture(scope="module")
def _hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def hooks(_hooks: WebhookReceiver) -> WebhookReceiver:
    """A receiver of callback notices (or of provider webhooks), reset for each test."""
    _hooks.reset()
    return _hooks

"""Pytest fixtures for the fake OpenAI server, shared by every test package that calls it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAIServer


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

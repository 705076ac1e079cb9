"""The fake Anthropic server for the contract tests (the OpenAI one comes from tests/fakes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_server import FakeAnthropicServer


@pytest.fixture(scope="module")
def _anthropic_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture
def anthropic_server(_anthropic_server: FakeAnthropicServer) -> FakeAnthropicServer:
    _anthropic_server.reset()
    return _anthropic_server

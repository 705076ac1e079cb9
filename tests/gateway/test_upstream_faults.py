"""Provider faults as clients see them: OpenAI-shaped 502/503/504 with a clear message,
the gateway's own 429 only when keys are cooling, never a key or a traceback; each is
the failed request's outcome."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from modelops.settings import Settings
from registry.database import Database
from registry.keys import KeyRepository, MasterKeyring
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.server import Fault
from tests.gateway.support import (
    FAKE_KEY,
    MASTER_KEY,
    Recorded,
    World,
    running_gateway,
    settings_for,
)

CHAT = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def gateway(world: World) -> Iterator[tuple[str, Recorded]]:
    settings = settings_for(world).model_copy(update={"gateway_call_budget_seconds": 1.5})
    tap = Recorded()
    with running_gateway(settings, tap) as url:
        yield url, tap


def _chat(url: str, world: World) -> httpx.Response:
    headers = {"authorization": f"Bearer {world.token}"}
    return httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers, timeout=30)


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["type"] == "upstream_error"
    assert FAKE_KEY not in response.text and "Traceback" not in response.text
    return str(error["message"])


def test_a_provider_that_does_not_answer_in_time_is_a_504(
    world: World, gateway: tuple[str, Recorded], openai_server: FakeOpenAIServer
) -> None:
    url, tap = gateway
    openai_server.always(FAKE_KEY, Fault.hang(10))
    message = _error(_chat(url, world), 504, "upstream_timeout")
    assert "budget" in message
    assert [o.error_class for o in tap.outcomes] == ["upstream_timeout"]


def test_a_failing_model_is_a_503_with_retry_after(
    world: World, gateway: tuple[str, Recorded], openai_server: FakeOpenAIServer
) -> None:
    url, tap = gateway
    openai_server.always(FAKE_KEY, Fault.server_error(500))
    response = _chat(url, world)
    assert "cannot serve now" in _error(response, 503, "upstream_unavailable")
    assert int(response.headers["retry-after"]) >= 1
    assert tap.outcomes[-1].error_class == "upstream_unavailable"


def test_no_usable_key_is_a_503_that_says_so(world: World, gateway: tuple[str, Recorded]) -> None:
    url, _ = gateway
    ring = MasterKeyring.from_setting(Settings(master_key=MASTER_KEY).master_key)
    database = Database.open(world.url)
    with database.transaction() as session:
        keys = KeyRepository(session, world.team, ring)
        [key] = keys.list("openai")
        keys.disable(key.id)
    database.close()
    message = _error(_chat(url, world), 503, "no_usable_key")
    assert "openai" in message

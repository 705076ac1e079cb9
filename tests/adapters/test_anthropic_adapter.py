"""The anthropic adapter against a fake Messages API on a real socket."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from adapters import errors
from adapters.anthropic.adapter import AnthropicAdapter
from adapters.base import Credential
from adapters.chat import ChatMessage, ChatRequest, FinishReason
from adapters.registry import create_adapter
from tests.fakes.anthropic_server import FakeAnthropicServer, Fault

pytestmark = pytest.mark.anyio

KEY = "sk-ant-test-0123456789abcdef"
CREDENTIAL = Credential(api_key=SecretStr(KEY), key_id="ant-1")
REQUEST = ChatRequest(
    model="claude-test",
    messages=[
        ChatMessage(role="system", content="You route tickets."),
        ChatMessage(role="user", content="My invoice is wrong"),
    ],
    stop=["END"],
    temperature=0.2,
)


def _adapter(server: FakeAnthropicServer, client: httpx.AsyncClient) -> AnthropicAdapter:
    adapter = create_adapter("anthropic", base_url=server.base_url, http_client=client)
    assert isinstance(adapter, AnthropicAdapter)
    return adapter


async def test_chat_moves_system_to_the_top_and_renames_stop(
    anthropic_server: FakeAnthropicServer,
) -> None:
    anthropic_server.replies["claude-test"] = "billing"
    async with httpx.AsyncClient() as client:
        response = await _adapter(anthropic_server, client).chat(CREDENTIAL, REQUEST)
    [sent] = anthropic_server.requests
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.json() == {
        "model": "claude-test",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "My invoice is wrong"}],
        "system": "You route tickets.",
        "temperature": 0.2,
        "stop_sequences": ["END"],
    }
    assert (response.content, response.finish_reason) == ("billing", FinishReason.STOP)
    assert response.raw_finish_reason == "end_turn"
    assert response.usage is not None and response.usage.output_tokens == 3
    assert response.rate_limit is not None and response.rate_limit.remaining_requests == 49


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(401, message="invalid x-api-key"), errors.AuthenticationError),
        (Fault(403, message="not allowed"), errors.PermissionDeniedError),
        (Fault.rate_limited(retry_after="4"), errors.RateLimitedError),
        (Fault(500, message="Internal server error"), errors.ModelUnavailableError),
        (Fault.overloaded(529), errors.ModelUnavailableError),
        (Fault.context_length_exceeded(), errors.ContextLengthError),
        (Fault(413, message="Request exceeds the maximum size"), errors.BadRequestError),
        (Fault(404, message="model: claude-nope"), errors.ResourceNotFoundError),
        (Fault.malformed_json(), errors.ProtocolError),
    ],
)
async def test_anthropic_errors_map_to_the_taxonomy(
    anthropic_server: FakeAnthropicServer, fault: Fault, expected: type[errors.ProviderError]
) -> None:
    anthropic_server.script(KEY, fault)
    async with httpx.AsyncClient() as client:
        with pytest.raises(expected) as caught:
            await _adapter(anthropic_server, client).chat(CREDENTIAL, REQUEST)
    assert type(caught.value) is expected
    if isinstance(caught.value, errors.RateLimitedError):
        assert caught.value.retry_after == 4.0


async def test_overloaded_529_cools_the_model_not_the_key(
    anthropic_server: FakeAnthropicServer,
) -> None:
    anthropic_server.script(KEY, Fault.overloaded(529))
    async with httpx.AsyncClient() as client:
        with pytest.raises(errors.ModelUnavailableError) as caught:
            await _adapter(anthropic_server, client).chat(CREDENTIAL, REQUEST)
    assert caught.value.scope is errors.FaultScope.MODEL
    assert caught.value.code == "overloaded_error"


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (REQUEST.model_copy(update={"seed": 3}), "seed"),
        (
            REQUEST.model_copy(
                update={"messages": [*REQUEST.messages, ChatMessage(role="system", content="x")]}
            ),
            "one system prompt",
        ),
    ],
)
async def test_requests_the_api_cannot_express_are_refused_before_sending(
    anthropic_server: FakeAnthropicServer, request_: ChatRequest, reason: str
) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(errors.BadRequestError, match=reason):
            await _adapter(anthropic_server, client).chat(CREDENTIAL, request_)
    assert anthropic_server.requests == []


async def test_base_url_with_or_without_v1_reaches_the_same_endpoint(
    anthropic_server: FakeAnthropicServer,
) -> None:
    async with httpx.AsyncClient() as client:
        for base_url in (anthropic_server.url, f"{anthropic_server.url}/v1/"):
            adapter = create_adapter("anthropic", base_url=base_url, http_client=client)
            assert isinstance(adapter, AnthropicAdapter)
            await adapter.chat(CREDENTIAL, REQUEST)
    assert [r.path for r in anthropic_server.requests] == ["/v1/messages", "/v1/messages"]

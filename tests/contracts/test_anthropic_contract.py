"""Our Anthropic requests and the fake's answers, against the official `anthropic` package.

The adapter speaks `anthropic-version: 2023-06-01`; the package is pinned below 1.0 (see
pyproject.toml), the last releases whose types describe that version's sampling fields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import httpx
import pytest
from anthropic.types import ErrorResponse, Message, message_create_params
from pydantic import SecretStr

from adapters.anthropic.adapter import AnthropicAdapter
from adapters.base import Credential
from adapters.chat import ChatMessage, ChatRequest
from adapters.registry import create_adapter
from tests.contracts.typed_params import problems
from tests.fakes.anthropic_server import FakeAnthropicServer, Fault

pytestmark = pytest.mark.anyio

KEY = "sk-ant-contract-000000"
CREDENTIAL = Credential(api_key=SecretStr(KEY), key_id="k1")
PARAMS = message_create_params.MessageCreateParamsNonStreaming


def _chat(**sampling: float) -> ChatRequest:
    return ChatRequest(
        model="claude-test",
        messages=[
            ChatMessage(role="system", content="You route tickets."),
            ChatMessage(role="user", content="My invoice is wrong"),
            ChatMessage(role="assistant", content="Which invoice?"),
            ChatMessage(role="user", content="INV-7"),
        ],
        max_tokens=64,
        stop=["END"],
        **sampling,  # type: ignore[arg-type]
    )


@pytest.fixture
async def clients(
    anthropic_server: FakeAnthropicServer,
) -> AsyncIterator[tuple[AnthropicAdapter, anthropic.AsyncAnthropic]]:
    async with httpx.AsyncClient() as http:
        ours = create_adapter("anthropic", base_url=anthropic_server.base_url, http_client=http)
        assert isinstance(ours, AnthropicAdapter)
        sdk = anthropic.AsyncAnthropic(
            api_key=KEY, base_url=anthropic_server.base_url, max_retries=0
        )
        yield ours, sdk
        await sdk.close()


@pytest.mark.parametrize(
    "sampling", [{}, {"temperature": 0.2}, {"top_p": 0.9}, {"temperature": 0.2, "top_p": 0.9}]
)
async def test_the_body_is_valid_message_create_params_with_one_sampling_field_at_most(
    anthropic_server: FakeAnthropicServer,
    clients: tuple[AnthropicAdapter, anthropic.AsyncAnthropic],
    sampling: dict[str, float],
) -> None:
    ours, _ = clients
    await ours.chat(CREDENTIAL, _chat(**sampling))
    body = anthropic_server.requests[-1].json()
    assert problems(PARAMS, body) == []
    sent = {name: body[name] for name in ("temperature", "top_p") if name in body}
    # Anthropic: alter temperature or top_p, not both; with both, temperature is kept.
    expected = {"temperature": 0.2} if "temperature" in sampling else dict(sampling)
    assert sent == expected


async def test_the_request_goes_where_the_sdk_sends_it_with_the_same_headers(
    anthropic_server: FakeAnthropicServer,
    clients: tuple[AnthropicAdapter, anthropic.AsyncAnthropic],
) -> None:
    ours, sdk = clients
    await ours.chat(CREDENTIAL, _chat(temperature=0.2))
    mine = anthropic_server.requests[-1]
    answer = await sdk.messages.create(**mine.json())  # every field we send is an SDK argument
    theirs = anthropic_server.requests[-1]
    assert (mine.method, mine.path) == (theirs.method, theirs.path) == ("POST", "/v1/messages")
    assert mine.json() == theirs.json()
    for header in ("x-api-key", "anthropic-version"):
        assert mine.headers[header] == theirs.headers[header]
    assert answer.content and answer.role == "assistant"


async def test_the_fakes_answers_are_an_sdk_message_and_error_response(
    anthropic_server: FakeAnthropicServer,
) -> None:
    body = {
        "model": "claude-test",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "hi"}],
    }
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient(base_url=anthropic_server.base_url, headers=headers) as http:
        message = Message.model_validate((await http.post("/v1/messages", json=body)).json())
        assert message.stop_reason == "end_turn" and message.usage.output_tokens == 3
        for status in (400, 401, 402, 403, 404, 429, 500, 504, 529):
            anthropic_server.script(KEY, Fault(status, message="refused"))
            raw = await http.post("/v1/messages", json=body)
            error = ErrorResponse.model_validate(raw.json())
            assert (raw.status_code, error.type, error.error.message) == (
                status,
                "error",
                "refused",
            )
        # The errors page lists 413 `request_too_large`; the package's union of error types
        # has no member for it, so only the envelope is the SDK's there.
        anthropic_server.script(KEY, Fault(413, message="too large"))
        raw = (await http.post("/v1/messages", json=body)).json()
        assert (raw["type"], raw["error"]["type"]) == ("error", "request_too_large")

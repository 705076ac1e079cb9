"""Streamed Messages against the official `anthropic` package: our stream body is its
streaming request type, the fake's events are its RawMessageStreamEvent (an `error` event its
ErrorResponse), and its own client reads the fake's stream."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import ErrorResponse, RawMessageStreamEvent, message_create_params
from httpx_sse import aconnect_sse
from pydantic import SecretStr, TypeAdapter

from adapters.anthropic.adapter import AnthropicAdapter
from adapters.base import Credential
from adapters.chat import ChatRequest
from adapters.registry import create_adapter
from tests.contracts.typed_params import problems
from tests.fakes.anthropic_server import FakeAnthropicServer, Fault

pytestmark = pytest.mark.anyio

KEY = "sk-ant-contract-stream-0"
CREDENTIAL = Credential(api_key=SecretStr(KEY), key_id="k1")
EVENTS = TypeAdapter[Any](RawMessageStreamEvent)
BODY = {
    "model": "claude-test",
    "max_tokens": 32,
    "messages": [{"role": "user", "content": "hi"}],
    "stream": True,
}


async def test_the_stream_body_is_valid_streaming_params(
    anthropic_server: FakeAnthropicServer,
) -> None:
    request = ChatRequest.model_validate(
        {
            "model": "claude-test",
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "Route tickets."}]},
                {"role": "user", "content": "My invoice is wrong"},
            ],
            "max_tokens": 64,
            "temperature": 0.2,
            "stop": ["END"],
            "extra": {"user": "user-7", "stream_options": {"include_usage": True}},
        }
    )
    async with httpx.AsyncClient() as http:
        ours = create_adapter("anthropic", base_url=anthropic_server.base_url, http_client=http)
        assert isinstance(ours, AnthropicAdapter)
        async with await ours.open_chat_stream(CREDENTIAL, request) as stream:
            async for _ in stream:
                pass
    body = anthropic_server.requests[-1].json()
    assert problems(message_create_params.MessageCreateParamsStreaming, body) == []
    assert body["stream"] is True and body["metadata"] == {"user_id": "user-7"}


async def test_the_fakes_events_are_raw_message_stream_events(
    anthropic_server: FakeAnthropicServer,
) -> None:
    anthropic_server.replies["claude-test"] = "Routing to billing."
    events = await _events(anthropic_server)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    parsed = [EVENTS.validate_python(json.loads(data)) for name, data in events if name != "ping"]
    assert [event.type for event in parsed] == [name for name in names if name != "ping"]
    text = "".join(e.delta.text for e in parsed if e.type == "content_block_delta")
    assert text == "Routing to billing."
    assert parsed[-2].usage.output_tokens == 3 and parsed[-2].delta.stop_reason == "end_turn"

    anthropic_server.script(KEY, Fault.stream_error(after=1, type="overloaded_error"))
    (_, start), (name, error) = await _events(anthropic_server)
    assert name == "error" and EVENTS.validate_python(json.loads(start)).type == "message_start"
    assert ErrorResponse.model_validate_json(error).error.type == "overloaded_error"


async def test_the_sdk_reads_the_fakes_stream_and_its_error_event(
    anthropic_server: FakeAnthropicServer,
) -> None:
    anthropic_server.replies["claude-test"] = "Routing to billing."
    sdk = anthropic.AsyncAnthropic(api_key=KEY, base_url=anthropic_server.base_url, max_retries=0)
    arguments: dict[str, Any] = {k: v for k, v in BODY.items() if k != "stream"}
    async with sdk.messages.stream(**arguments) as stream:
        message = await stream.get_final_message()
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Routing to billing."  # type: ignore[union-attr]
    assert (message.stop_reason, message.usage.output_tokens) == ("end_turn", 3)

    anthropic_server.script(KEY, Fault.stream_error(after=4, type="overloaded_error"))
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        async with sdk.messages.stream(**arguments) as stream:
            await stream.get_final_message()
    await sdk.close()


async def _events(server: FakeAnthropicServer) -> list[tuple[str, str]]:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    url = f"{server.base_url}/v1/messages"
    async with httpx.AsyncClient() as http:
        async with aconnect_sse(http, "POST", url, json=BODY, headers=headers) as source:
            return [(event.event, event.data) async for event in source.aiter_sse()]

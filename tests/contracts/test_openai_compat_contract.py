"""OpenAI's API offered over any provider (adapters/openai/compat.py): a client's body read into
a ChatRequest goes out of the openai adapter as it came, and standard answers and chunks are
written as the official package's ChatCompletion and ChatCompletionChunk."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import SecretStr, ValidationError

from adapters.base import Credential
from adapters.chat import ChatChunk, ChatResponse, FinishReason, Role, Usage
from adapters.openai.adapter import OpenAIAdapter
from adapters.openai.compat import (
    chat_request_from_openai,
    chunk_to_openai,
    completion_to_openai,
)
from adapters.registry import create_adapter
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.anyio

CREDENTIAL = Credential(api_key=SecretStr("sk-contract-compat-000"), key_id="k1")
CLIENT_BODY: dict[str, Any] = {
    "model": "gpt-test",
    "messages": [
        {"role": "developer", "content": "Answer briefly.", "name": "ops"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/p.png", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "look", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a parcel"},
    ],
    "max_completion_tokens": 30,
    "temperature": 0.3,
    "stop": "END",
    "tools": [{"type": "function", "function": {"name": "look", "parameters": {}}}],
    "response_format": {"type": "json_object"},
    "user": "user-7",
    "logprobs": True,
    "stream": False,
}


async def test_a_clients_body_goes_out_of_the_openai_adapter_as_it_came(
    openai_server: FakeOpenAIServer,
) -> None:
    request = chat_request_from_openai(CLIENT_BODY)
    assert request.max_tokens == 30 and request.stop == ["END"]
    async with httpx.AsyncClient() as http:
        adapter = create_adapter(
            "openai",
            base_url=openai_server.base_url,
            http_client=http,
            options={"max_tokens_field": "max_completion_tokens"},
        )
        assert isinstance(adapter, OpenAIAdapter)
        await adapter.chat(CREDENTIAL, request)
    sent = openai_server.requests[-1].json()
    expected = {k: v for k, v in CLIENT_BODY.items() if k != "stream"}
    assert sent == {**expected, "stop": ["END"]}


def test_a_bad_body_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"messages\.0\.role"):
        chat_request_from_openai({"model": "m", "messages": [{"role": "robot", "content": "x"}]})
    with pytest.raises(ValidationError, match="temperature"):
        chat_request_from_openai({"model": "m", "messages": [], "temperature": 9})


async def test_another_providers_stream_is_written_as_chat_completion_chunks(
    anthropic_server: FakeAnthropicServer,
) -> None:
    anthropic_server.replies["claude-test"] = "It is a parcel."
    request = chat_request_from_openai(
        {"model": "claude-test", "messages": [{"role": "user", "content": "hi"}]}
    )
    written: list[dict[str, Any]] = []
    async with httpx.AsyncClient() as http:
        adapter = create_adapter("anthropic", base_url=anthropic_server.base_url, http_client=http)
        async with await adapter.open_chat_stream(CREDENTIAL, request) as stream:  # type: ignore[attr-defined]
            async for chunk in stream:
                written += chunk_to_openai(chunk, model="support", created=1, include_usage=True)
    chunks = [ChatCompletionChunk.model_validate(item) for item in written]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "It is a parcel."
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert {c.model for c in chunks} == {"support"}
    assert all(c.usage is None for c in chunks[:-1])


def test_a_standard_answer_is_written_as_a_chat_completion() -> None:
    response = ChatResponse(
        id="msg_1",
        provider="anthropic",
        model="claude-test",
        content="billing",
        finish_reason=FinishReason.OTHER,
        raw_finish_reason="pause_turn",
        usage=Usage(input_tokens=5, output_tokens=1),
        latency_ms=3.0,
    )
    completion = ChatCompletion.model_validate(
        completion_to_openai(response, model="support", created=1)
    )
    assert completion.choices[0].message.content == "billing"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 6
    usage_only = ChatChunk(id="c", model="m", usage=Usage(input_tokens=1, output_tokens=2))
    assert chunk_to_openai(usage_only, model="m", created=1) == []  # not asked for usage
    role_only = chunk_to_openai(
        ChatChunk(id="c", model="m", role=Role.ASSISTANT), model="m", created=1
    )
    assert role_only[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}

"""Streamed chat against the official `openai` package: our stream requests (with extras) are
its streaming request type and what it sends itself, the fake's chunks are its
ChatCompletionChunk, and its own client reads the fake's stream, in-band error included."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from httpx_sse import aconnect_sse
from openai.types.chat import ChatCompletionChunk, completion_create_params
from openai.types.shared import ErrorObject
from pydantic import SecretStr

from adapters.base import Credential
from adapters.chat import ChatRequest
from adapters.openai.adapter import OpenAIAdapter
from adapters.registry import create_adapter
from tests.contracts.typed_params import problems
from tests.fakes.openai_server import FakeOpenAIServer, Fault

pytestmark = pytest.mark.anyio

KEY = "sk-contract-stream-0000"
CREDENTIAL = Credential(api_key=SecretStr(KEY), key_id="k1")
TOOL = {
    "type": "function",
    "function": {
        "name": "track_parcel",
        "description": "Where a parcel is",
        "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
    },
}
# A request as an OpenAI client writes it, every extra field the gateway passes through.
REQUEST = ChatRequest.model_validate(
    {
        "model": "gpt-test",
        "messages": [
            {"role": "developer", "content": "Answer briefly."},
            {"role": "user", "content": [{"type": "text", "text": "Where is A-1?"}]},
            {
                "role": "assistant",
                "content": None,
                "extra": {
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "track_parcel", "arguments": '{"order":"A-1"}'},
                        }
                    ]
                },
            },
            {"role": "tool", "content": "in transit", "extra": {"tool_call_id": "call_1"}},
        ],
        "temperature": 0.2,
        "max_tokens": 20,
        "seed": 7,
        "extra": {
            "tools": [TOOL],
            "tool_choice": "auto",
            "parallel_tool_calls": False,
            "response_format": {"type": "text"},
            "n": 1,
            "logprobs": True,
            "top_logprobs": 2,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
            "logit_bias": {"50256": -100},
            "user": "user-7",
            "metadata": {"ticket": "T-1"},
            "store": False,
            "service_tier": "auto",
            "stream_options": {"include_obfuscation": False},
        },
    }
)


@pytest.fixture
async def clients(
    openai_server: FakeOpenAIServer,
) -> AsyncIterator[tuple[OpenAIAdapter, openai.AsyncOpenAI]]:
    async with httpx.AsyncClient() as http:
        ours = create_adapter("openai", base_url=openai_server.base_url, http_client=http)
        assert isinstance(ours, OpenAIAdapter)
        sdk = openai.AsyncOpenAI(api_key=KEY, base_url=openai_server.base_url, max_retries=0)
        yield ours, sdk
        await sdk.close()


async def _stream_body(ours: OpenAIAdapter, server: FakeOpenAIServer) -> dict[str, Any]:
    async with await ours.open_chat_stream(CREDENTIAL, REQUEST) as stream:
        async for _ in stream:
            pass
    body: dict[str, Any] = server.requests[-1].json()
    return body


async def test_the_stream_body_with_extras_is_valid_streaming_params_and_what_the_sdk_sends(
    openai_server: FakeOpenAIServer, clients: tuple[OpenAIAdapter, openai.AsyncOpenAI]
) -> None:
    ours, sdk = clients
    mine = await _stream_body(ours, openai_server)
    assert problems(completion_create_params.CompletionCreateParamsStreaming, mine) == []
    assert mine["stream"] is True and mine["stream_options"]["include_usage"] is True
    async for _ in await sdk.chat.completions.create(**mine):  # every field is an SDK argument
        pass
    theirs = openai_server.requests[-1]
    assert theirs.path == openai_server.requests[-2].path == "/v1/chat/completions"
    assert theirs.json() == mine


async def test_the_fakes_events_are_chat_completion_chunks_then_done(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.replies["gpt-test"] = "It is in transit."
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    for usage in (False, True):
        events = await _events(openai_server, {**body, "stream_options": {"include_usage": usage}})
        assert events[-1] == "[DONE]"
        chunks = [ChatCompletionChunk.model_validate_json(data) for data in events[:-1]]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "It is in transit."
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
        if usage:  # the last chunk: no choices, the usage of the whole answer
            assert chunks[-1].choices == [] and chunks[-1].usage is not None
            assert chunks[-1].usage.completion_tokens == 4
        else:
            assert all(c.usage is None for c in chunks)


async def test_the_sdk_reads_the_fakes_stream_and_its_in_band_error(
    openai_server: FakeOpenAIServer, clients: tuple[OpenAIAdapter, openai.AsyncOpenAI]
) -> None:
    _, sdk = clients
    openai_server.replies["gpt-test"] = "It is in transit."
    stream = await sdk.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "It is in transit."
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5

    openai_server.script(KEY, Fault.stream_error(after=2, message="The server had an error"))
    with pytest.raises(openai.APIError, match="The server had an error"):
        async for _ in await sdk.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
    openai_server.script(KEY, Fault.stream_error(after=2))
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    last = json.loads((await _events(openai_server, body))[-1])
    assert list(last) == ["error"]
    ErrorObject.model_validate(last["error"])


async def _events(server: FakeOpenAIServer, body: dict[str, Any]) -> list[str]:
    headers = {"authorization": f"Bearer {KEY}"}
    url = f"{server.base_url}/chat/completions"
    async with httpx.AsyncClient() as http:
        async with aconnect_sse(http, "POST", url, json=body, headers=headers) as source:
            return [event.data async for event in source.aiter_sse()]

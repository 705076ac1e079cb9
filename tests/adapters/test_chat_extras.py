"""OpenAI's request shape beyond the standard fields: `extra`, content parts, null content and
message fields are validated, sent verbatim by openai, and refused by name where they cannot be
honoured; the openai answer's own JSON rides along as `raw`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import JsonValue, SecretStr, ValidationError

from adapters import errors
from adapters.anthropic.adapter import AnthropicAdapter
from adapters.base import Credential
from adapters.chat import EXTRA_FIELDS_SENT_BY, ChatMessage, ChatRequest
from adapters.http import ErrorDetail
from adapters.openai.adapter import OpenAIAdapter
from adapters.registry import ADAPTERS, create_adapter
from adapters.streaming import in_band_error
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.anyio

CREDENTIAL = Credential(api_key=SecretStr("sk-test-extras-000000"), key_id="k1")
TOOLS: JsonValue = [
    {
        "type": "function",
        "function": {"name": "track", "parameters": {"type": "object", "properties": {}}},
    }
]


def _request(**fields: object) -> ChatRequest:
    base: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return ChatRequest.model_validate(base | fields)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"stream": True}, "'stream' is a standard field, not an extra: call open_chat_stream"),
        ({"temperature": 1}, "'temperature' is a standard field, not an extra: set ChatRequest"),
        ({"max_completion_tokens": 9}, "set ChatRequest.max_tokens"),
        ({"bad-name": 1}, "'bad-name' is not a field name"),
        ({f"f{i}": i for i in range(65)}, "at most 64 extra fields, got 65"),
    ],
)
def test_extra_fields_are_bounded_and_never_shadow_a_standard_field(
    extra: dict[str, JsonValue], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _request(extra=extra)


def test_content_parts_are_kept_and_their_text_joined_by_newlines() -> None:
    parts = [
        {"type": "text", "text": "Where is"},
        {"type": "image_url", "image_url": {"url": "https://x.test/p.png"}},
        {"type": "text", "text": "my parcel?"},
    ]
    message = ChatMessage.model_validate({"role": "user", "content": parts})
    assert message.content == "Where is\nmy parcel?"
    assert message.parts == tuple(parts) and message.non_text_parts() == [(1, "image_url")]
    nothing = ChatMessage.model_validate({"role": "assistant", "content": None})
    assert (nothing.content, nothing.null_content, nothing.parts) == ("", True, None)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"role": "user", "content": [{"text": "x"}]}, r"content\[0\]\.type: a part needs a type"),
        ({"role": "user", "content": [{"type": "text"}]}, r"content\[0\]\.text: a text part"),
        ({"role": "user", "content": "x", "extra": {"role": "y"}}, "set ChatMessage.role"),
        ({"role": "function", "content": "x"}, "role"),
    ],
)
def test_malformed_messages_are_refused_naming_the_field(
    message: dict[str, JsonValue], error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        ChatMessage.model_validate(message)


async def test_openai_sends_extras_parts_null_content_and_message_fields_as_they_came(
    openai_server: FakeOpenAIServer, client: httpx.AsyncClient
) -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}]
    call = {"id": "c1", "type": "function", "function": {"name": "track", "arguments": "{}"}}
    request = _request(
        messages=[
            {"role": "developer", "content": "Be brief.", "extra": {"name": "ops"}},
            {"role": "user", "content": parts},
            {"role": "assistant", "content": None, "extra": {"tool_calls": [call]}},
            {"role": "tool", "content": "in transit", "extra": {"tool_call_id": "c1"}},
        ],
        temperature=0.5,
        extra={"tools": TOOLS, "tool_choice": "auto", "n": 2, "logit_bias": {"50256": -100}},
    )
    adapter = create_adapter("openai", base_url=openai_server.base_url, http_client=client)
    assert isinstance(adapter, OpenAIAdapter)
    await adapter.chat(CREDENTIAL, request)
    assert openai_server.requests[-1].json() == {
        "model": "m",
        "messages": [
            {"role": "developer", "content": "Be brief.", "name": "ops"},
            {"role": "user", "content": parts},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "content": "in transit", "tool_call_id": "c1"},
        ],
        "temperature": 0.5,
        "tools": TOOLS,
        "tool_choice": "auto",
        "n": 2,
        "logit_bias": {"50256": -100},
    }


async def test_the_openai_answer_carries_its_own_json_unchanged_as_raw(
    openai_server: FakeOpenAIServer, client: httpx.AsyncClient
) -> None:
    adapter = create_adapter("openai", base_url=openai_server.base_url, http_client=client)
    assert isinstance(adapter, OpenAIAdapter)
    response = await adapter.chat(CREDENTIAL, _request())
    assert response.raw is not None
    assert response.raw["object"] == "chat.completion"  # a field the standard answer lacks
    assert response.raw["id"] == response.id
    assert response.raw["choices"][0]["message"]["refusal"] is None  # type: ignore[index,call-overload]
    assert "raw" not in response.model_dump() and "raw=" not in repr(response)


async def test_anthropic_says_user_as_metadata_and_text_parts_as_text_blocks(
    anthropic_server: FakeAnthropicServer, client: httpx.AsyncClient
) -> None:
    adapter = create_adapter("anthropic", base_url=anthropic_server.base_url, http_client=client)
    assert isinstance(adapter, AnthropicAdapter)
    text = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    request = _request(
        messages=[{"role": "system", "content": text}, {"role": "user", "content": text}],
        extra={"user": "user-7", "stream_options": {"include_usage": True}},
    )
    await adapter.chat(CREDENTIAL, request)
    body = anthropic_server.requests[-1].json()
    assert body["system"] == text and body["messages"] == [{"role": "user", "content": text}]
    assert body["metadata"] == {"user_id": "user-7"}
    assert "stream_options" not in body and "user" not in body


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"extra": {"tools": TOOLS}}, r"extra\.tools: provider kind 'anthropic' cannot send"),
        ({"extra": {"user": 7}}, r"extra\.user: must be a string"),
        (
            {"extra": {"stream_options": {"include_obfuscation": False}}},
            r"extra\.stream_options\.include_obfuscation: only include_usage",
        ),
        (
            {"messages": [{"role": "developer", "content": "x"}]},
            r"messages\[0\]\.role: .* takes the roles assistant, system, user",
        ),
        (
            {"messages": [{"role": "user", "content": "x", "extra": {"name": "bo"}}]},
            r"messages\[0\]\.name: provider kind 'anthropic' cannot send this message field",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            r"messages\[0\]\.content\[0\]\.type: .* not 'input_audio'; .* other parts: openai",
        ),
    ],
)
async def test_anthropic_refuses_what_it_cannot_say_before_sending(
    anthropic_server: FakeAnthropicServer,
    client: httpx.AsyncClient,
    fields: dict[str, object],
    error: str,
) -> None:
    adapter = create_adapter("anthropic", base_url=anthropic_server.base_url, http_client=client)
    assert isinstance(adapter, AnthropicAdapter)
    with pytest.raises(errors.BadRequestError, match=error):
        await adapter.chat(CREDENTIAL, _request(**fields))
    assert anthropic_server.requests == []


async def test_exactly_the_kinds_said_to_send_extras_send_an_unknown_one(
    openai_server: FakeOpenAIServer,
    anthropic_server: FakeAnthropicServer,
    client: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    urls = {"openai": openai_server.base_url, "anthropic": anthropic_server.base_url}
    request = _request(extra={"x_vendor_option": {"level": 3}})
    senders = []
    for kind in sorted(ADAPTERS):
        adapter = create_adapter(
            kind, base_url=urls.get(kind, "http://x.test"), http_client=client, data_dir=tmp_path
        )
        chat = getattr(adapter, "chat", None)
        if chat is None:
            continue
        try:
            await chat(CREDENTIAL, request)
        except errors.BadRequestError as refused:
            assert "extra.x_vendor_option" in str(refused)
        else:
            senders.append(kind)
    assert tuple(senders) == EXTRA_FIELDS_SENT_BY
    assert openai_server.requests[-1].json()["x_vendor_option"] == {"level": 3}


@pytest.mark.parametrize(
    ("type_", "code", "expected"),
    [
        ("server_error", None, errors.ModelUnavailableError),
        ("api_error", None, errors.ModelUnavailableError),
        ("overloaded_error", None, errors.ModelUnavailableError),
        ("rate_limit_error", None, errors.RateLimitedError),
        ("requests", "rate_limit_exceeded", errors.ModelUnavailableError),
        ("insufficient_quota", "insufficient_quota", errors.QuotaExhaustedError),
        ("invalid_request_error", "context_length_exceeded", errors.ContextLengthError),
        ("invalid_request_error", None, errors.BadRequestError),
        ("authentication_error", None, errors.AuthenticationError),
        ("not_found_error", None, errors.ResourceNotFoundError),
        ("timeout_error", None, errors.ModelUnavailableError),
        (None, None, errors.ModelUnavailableError),
    ],
)
def test_an_in_band_error_is_classified_like_the_status_its_type_stands_for(
    type_: str | None, code: str | None, expected: type[errors.ProviderError]
) -> None:
    error = in_band_error(ErrorDetail("went wrong", type_, code), provider="p")
    assert type(error) is expected and error.status_code is None

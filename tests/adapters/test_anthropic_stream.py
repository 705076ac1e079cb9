"""The anthropic adapter's streamed chat: named events read into chunks, and each scripted fault
raised from the open (before the first text) or from the iteration (after it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from adapters import errors
from adapters.anthropic.adapter import AnthropicAdapter
from adapters.base import Credential
from adapters.chat import ChatChunk, ChatMessage, ChatRequest, FinishReason, Role
from adapters.registry import create_adapter
from adapters.streaming import ChatStream
from tests.fakes.anthropic_server import FakeAnthropicServer, Fault

pytestmark = pytest.mark.anyio

KEY = "sk-ant-stream-0123456789"
CREDENTIAL = Credential(api_key=SecretStr(KEY), key_id="ant-1")
REQUEST = ChatRequest(
    model="claude-test",
    messages=[
        ChatMessage(role="system", content="You route tickets."),
        ChatMessage(role="user", content="My invoice is wrong"),
    ],
)
ANSWER = "Routing to billing now."


@pytest.fixture
async def adapter(anthropic_server: FakeAnthropicServer) -> AsyncIterator[AnthropicAdapter]:
    async with httpx.AsyncClient() as client:
        made = create_adapter(
            "anthropic",
            base_url=anthropic_server.base_url,
            http_client=client,
            options={"stream_idle_timeout_seconds": 0.2},
        )
        assert isinstance(made, AnthropicAdapter)
        yield made


async def _read(stream: ChatStream) -> list[ChatChunk]:
    async with stream:
        return [chunk async for chunk in stream]


async def test_the_events_become_the_whole_answer_with_usage_and_stop_reason(
    anthropic_server: FakeAnthropicServer, adapter: AnthropicAdapter
) -> None:
    anthropic_server.replies["claude-test"] = ANSWER
    whole = await adapter.chat(CREDENTIAL, REQUEST)
    stream = await adapter.open_chat_stream(CREDENTIAL, REQUEST)
    chunks = await _read(stream)

    assert "".join(c.content for c in chunks) == whole.content == ANSWER
    assert chunks[0].role is Role.ASSISTANT and chunks[0].content == ""  # message_start
    assert {c.id for c in chunks} == {stream.id}
    assert stream.id.startswith("msg_fake") and stream.model == "claude-test"
    # message_delta: the stop reason and the usage, input tokens from message_start.
    last = chunks[-1]
    assert (last.finish_reason, last.raw_finish_reason) == (FinishReason.STOP, "end_turn")
    assert last.usage == whole.usage == stream.usage
    assert stream.rate_limit is not None and stream.rate_limit.remaining_requests == 49
    body = anthropic_server.requests[-1].json()
    assert body["stream"] is True and body["system"] == "You route tickets."


# Events: message_start, content_block_start, ping, then one text delta per word. The open
# returns once the first word is in: a fault after 3 events is before any text, after 4 after.
FAULTS = [
    (Fault.stream_reset(after=3), Fault.stream_reset(after=4), errors.ProviderConnectionError),
    (
        Fault.stream_error(after=1, type="overloaded_error", message="Overloaded"),
        Fault.stream_error(after=4, type="overloaded_error", message="Overloaded"),
        errors.ModelUnavailableError,
    ),
    (
        Fault.stream_error(after=3, type="rate_limit_error", message="slow down"),
        Fault.stream_error(after=4, type="rate_limit_error", message="slow down"),
        errors.RateLimitedError,
    ),
    (Fault.stream_malformed(after=2), Fault.stream_malformed(after=4), errors.ProtocolError),
    (Fault.stream_end(after=3), Fault.stream_end(after=5), errors.ProtocolError),
]


@pytest.mark.parametrize(("before", "after", "expected"), FAULTS)
async def test_stream_faults_raise_from_the_open_before_text_and_from_the_iteration_after(
    anthropic_server: FakeAnthropicServer,
    adapter: AnthropicAdapter,
    before: Fault,
    after: Fault,
    expected: type[errors.ProviderError],
) -> None:
    anthropic_server.replies["claude-test"] = ANSWER
    anthropic_server.script(KEY, before, after)
    with pytest.raises(expected) as at_open:
        await adapter.open_chat_stream(CREDENTIAL, REQUEST)
    assert type(at_open.value) is expected

    stream = await adapter.open_chat_stream(CREDENTIAL, REQUEST)
    seen: list[str] = []
    with pytest.raises(expected) as mid_stream:
        async for chunk in stream:
            seen.append(chunk.content)
    assert type(mid_stream.value) is expected
    assert "".join(seen).startswith("Routing ") and stream.closed


async def test_an_overloaded_error_event_names_its_type_and_message(
    anthropic_server: FakeAnthropicServer, adapter: AnthropicAdapter
) -> None:
    anthropic_server.script(
        KEY, Fault.stream_error(after=1, type="overloaded_error", message="Overloaded")
    )
    with pytest.raises(errors.ModelUnavailableError) as caught:
        await adapter.open_chat_stream(CREDENTIAL, REQUEST)
    assert caught.value.code == "overloaded_error" and "Overloaded" in str(caught.value)
    assert caught.value.status_code is None  # it came in an HTTP 200 stream


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.overloaded(529), errors.ModelUnavailableError),
        (Fault(401, message="invalid x-api-key"), errors.AuthenticationError),
        (Fault.context_length_exceeded(), errors.ContextLengthError),
    ],
)
async def test_an_http_error_raises_from_the_open(
    anthropic_server: FakeAnthropicServer,
    adapter: AnthropicAdapter,
    fault: Fault,
    expected: type[errors.ProviderError],
) -> None:
    anthropic_server.script(KEY, fault)
    with pytest.raises(expected):
        await adapter.open_chat_stream(CREDENTIAL, REQUEST)


async def test_pings_do_not_end_the_stream_and_a_stall_after_text_is_an_idle_timeout(
    anthropic_server: FakeAnthropicServer, adapter: AnthropicAdapter
) -> None:
    anthropic_server.script(KEY, Fault.stream_stall(after=5))
    stream = await adapter.open_chat_stream(CREDENTIAL, REQUEST)
    with pytest.raises(errors.ProviderTimeoutError, match=r"idle for 0\.2s"):
        async for _ in stream:
            pass
    assert stream.closed


async def test_a_request_the_api_cannot_say_is_refused_before_the_stream_opens(
    anthropic_server: FakeAnthropicServer, adapter: AnthropicAdapter
) -> None:
    request = REQUEST.model_copy(update={"extra": {"tools": []}})
    with pytest.raises(errors.BadRequestError, match=r"extra\.tools.*: openai"):
        await adapter.open_chat_stream(CREDENTIAL, request)
    assert anthropic_server.requests == []

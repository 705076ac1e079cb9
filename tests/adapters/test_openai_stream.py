"""The openai adapter's streamed chat against the fake on a real socket: the answer, and each
scripted fault raised where the caller can still fail over (the open) or no longer can."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import httpx
import pytest
from pydantic import JsonValue, SecretStr

from adapters import errors
from adapters.base import Credential
from adapters.chat import ChatChunk, ChatMessage, ChatRequest, FinishReason, Role
from adapters.openai.adapter import OpenAIAdapter
from adapters.registry import create_adapter
from adapters.streaming import ChatStream
from tests.fakes.openai_server import FakeOpenAIServer, Fault

pytestmark = pytest.mark.anyio

KEY = "sk-test-stream-aaaaaaaaaaaa"
CREDENTIAL = Credential(api_key=SecretStr(KEY), key_id="k1")
REQUEST = ChatRequest(
    model="gpt-test",
    messages=[ChatMessage(role="user", content="Where is my parcel?")],
    max_tokens=50,
)
ANSWER = "Your parcel left the depot this morning."  # 7 words: 7 content events


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def _adapter(
    server: FakeOpenAIServer, client: httpx.AsyncClient, **options: JsonValue
) -> OpenAIAdapter:
    adapter = create_adapter(
        "openai", base_url=server.base_url, http_client=client, options=options
    )
    assert isinstance(adapter, OpenAIAdapter)
    return adapter


async def _read(stream: ChatStream) -> list[ChatChunk]:
    async with stream:
        return [chunk async for chunk in stream]


async def test_the_streamed_answer_is_the_whole_answer_with_its_usage(
    openai_server: FakeOpenAIServer, client: httpx.AsyncClient
) -> None:
    openai_server.replies["gpt-test"] = ANSWER
    adapter = _adapter(openai_server, client)
    whole = await adapter.chat(CREDENTIAL, REQUEST)
    stream = await adapter.open_chat_stream(CREDENTIAL, REQUEST)
    chunks = await _read(stream)

    assert "".join(c.content for c in chunks) == whole.content == ANSWER
    assert chunks[0].role is Role.ASSISTANT and all(c.role is None for c in chunks[1:])
    assert {c.id for c in chunks} == {stream.id} and stream.model == "gpt-test"
    finishes = [c for c in chunks if c.finish_reason is not None]
    assert [(c.finish_reason, c.raw_finish_reason) for c in finishes] == [
        (FinishReason.STOP, "stop")
    ]
    # OpenAI's last chunk carries the usage alone (choices: []), after the finish.
    assert chunks[-1].usage == whole.usage == stream.usage
    assert chunks[-1].content == "" and chunks[-1].finish_reason is None
    assert (stream.finish_reason, stream.raw_finish_reason) == (FinishReason.STOP, "stop")
    assert stream.rate_limit is not None and stream.rate_limit.remaining_requests == 99
    assert stream.first_chunk_ms > 0 and stream.closed


async def test_the_body_asks_for_a_stream_with_usage_keeping_the_clients_stream_options(
    openai_server: FakeOpenAIServer, client: httpx.AsyncClient
) -> None:
    request = REQUEST.model_copy(
        update={"extra": {"stream_options": {"include_obfuscation": False}, "user": "u-1"}}
    )
    await _read(await _adapter(openai_server, client).open_chat_stream(CREDENTIAL, request))
    [sent] = openai_server.requests_to("/chat/completions")
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.json() == {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": "Where is my parcel?"}],
        "max_tokens": 50,
        "user": "u-1",
        "stream": True,
        "stream_options": {"include_obfuscation": False, "include_usage": True},
    }


async def test_each_chunk_keeps_openais_json_as_raw(
    openai_server: FakeOpenAIServer, client: httpx.AsyncClient
) -> None:
    chunks = await _read(
        await _adapter(openai_server, client).open_chat_stream(CREDENTIAL, REQUEST)
    )
    for chunk in chunks:
        assert chunk.raw is not None
        assert chunk.raw["object"] == "chat.completion.chunk"
        assert chunk.raw["system_fingerprint"] == "fp_fake"  # not a standard field
        assert chunk.raw["id"] == chunk.id
    assert chunks[-1].raw is not None and chunks[-1].raw["choices"] == []
    assert "raw" not in chunks[0].model_dump() and "raw=" not in repr(chunks[0])


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.rate_limited(retry_after="3"), errors.RateLimitedError),
        (Fault.quota_exhausted(), errors.QuotaExhaustedError),
        (Fault.unauthorized(), errors.AuthenticationError),
        (Fault.server_error(503), errors.ModelUnavailableError),
        (Fault.context_length_exceeded(), errors.ContextLengthError),
        (Fault.malformed_json(), errors.ProtocolError),  # HTTP 200, but JSON, not a stream
    ],
)
async def test_an_http_error_before_any_byte_raises_from_the_open(
    openai_server: FakeOpenAIServer,
    client: httpx.AsyncClient,
    fault: Fault,
    expected: type[errors.ProviderError],
) -> None:
    openai_server.script(KEY, fault)
    with pytest.raises(expected) as caught:
        await _adapter(openai_server, client).open_chat_stream(CREDENTIAL, REQUEST)
    assert type(caught.value) is expected
    assert KEY not in str(caught.value)
    if isinstance(caught.value, errors.RateLimitedError):
        assert caught.value.retry_after == 3.0


# The fake's events: the role (1), then one per word. Open returns once the first word is in,
# so a fault after 1 event comes before any output, a fault after 2 after the first chunk.
FAULTS = [
    (Fault.stream_reset, {}, errors.ProviderConnectionError),
    (Fault.stream_error, {}, errors.ModelUnavailableError),
    (Fault.stream_error, {"type": "invalid_request_error"}, errors.BadRequestError),
    (Fault.stream_malformed, {}, errors.ProtocolError),
    (Fault.stream_end, {}, errors.ProtocolError),
]


@pytest.mark.parametrize(("make", "fields", "expected"), FAULTS)
async def test_a_stream_fault_before_the_first_chunk_raises_from_the_open(
    openai_server: FakeOpenAIServer,
    client: httpx.AsyncClient,
    make: type[Fault],
    fields: dict[str, str],
    expected: type[errors.ProviderError],
) -> None:
    for after in (0, 1):
        openai_server.script(KEY, make(after=after, **fields))  # type: ignore[call-arg]
        with pytest.raises(expected) as caught:
            await _adapter(openai_server, client).open_chat_stream(CREDENTIAL, REQUEST)
        assert type(caught.value) is expected


@pytest.mark.parametrize(("make", "fields", "expected"), FAULTS)
async def test_a_stream_fault_after_the_first_chunk_raises_from_the_iteration(
    openai_server: FakeOpenAIServer,
    client: httpx.AsyncClient,
    make: type[Fault],
    fields: dict[str, str],
    expected: type[errors.ProviderError],
) -> None:
    openai_server.replies["gpt-test"] = ANSWER
    openai_server.script(KEY, make(after=3, **fields))  # type: ignore[call-arg]
    stream = await _adapter(openai_server, client).open_chat_stream(CREDENTIAL, REQUEST)
    seen: list[str] = []
    with pytest.raises(expected) as caught:
        async for chunk in stream:
            seen.append(chunk.content)
    assert type(caught.value) is expected
    assert seen == ["", "Your ", "parcel "]  # what came before the fault was handed on
    assert stream.closed


async def test_an_in_band_error_is_classified_by_its_type_and_code(
    openai_server: FakeOpenAIServer, client: httpx.AsyncClient
) -> None:
    openai_server.script(
        KEY, Fault.stream_error(after=1, type="insufficient_quota", message="quota")
    )
    with pytest.raises(errors.QuotaExhaustedError) as caught:
        await _adapter(openai_server, client).open_chat_stream(CREDENTIAL, REQUEST)
    assert caught.value.status_code is None and "quota" in str(caught.value)


async def test_silence_before_the_first_chunk_is_bounded_by_the_timeout(
    openai_server: FakeOpenAIServer, client: httpx.AsyncClient
) -> None:
    adapter = _adapter(openai_server, client)
    for fault in (Fault.hang(30), Fault.stream_stall(after=1)):  # no headers / no words yet
        openai_server.script(KEY, fault)
        with pytest.raises(errors.ProviderTimeoutError, match=r"no first chunk within 0\.3s"):
            await adapter.open_chat_stream(CREDENTIAL, REQUEST, timeout=0.3)


async def test_the_idle_timeout_applies_between_chunks_only(
    openai_server: FakeOpenAIServer, client: httpx.AsyncClient
) -> None:
    openai_server.replies["gpt-test"] = ANSWER
    adapter = _adapter(openai_server, client, stream_idle_timeout_seconds=0.1)
    # A pause before the first word is the first-chunk timeout's to judge, not the idle one's.
    openai_server.script(KEY, Fault.stream_stall(after=1, seconds=0.4))
    chunks = await _read(await adapter.open_chat_stream(CREDENTIAL, REQUEST, timeout=10))
    assert "".join(c.content for c in chunks) == ANSWER

    openai_server.script(KEY, Fault.stream_stall(after=3))
    stream = await adapter.open_chat_stream(CREDENTIAL, REQUEST, timeout=10)
    with pytest.raises(errors.ProviderTimeoutError, match=r"idle for 0\.1s"):
        async for _ in stream:
            pass
    assert stream.closed


async def test_a_finished_or_refused_stream_gives_its_connection_back(
    openai_server: FakeOpenAIServer,
) -> None:
    # One connection in the pool, and a short wait for it: a leak would time out the next call.
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(limits=limits) as client:
        adapter = _adapter(openai_server, client)
        await _read(await adapter.open_chat_stream(CREDENTIAL, REQUEST, timeout=1))
        openai_server.script(KEY, Fault.rate_limited())
        with pytest.raises(errors.RateLimitedError):
            await adapter.open_chat_stream(CREDENTIAL, REQUEST, timeout=1)
        openai_server.script(KEY, Fault.stream_error(after=3))
        with pytest.raises(errors.ModelUnavailableError):
            await _read(await adapter.open_chat_stream(CREDENTIAL, REQUEST, timeout=1))
        assert (await adapter.chat(CREDENTIAL, REQUEST, timeout=1)).content


async def test_a_stream_read_to_its_end_leaves_its_connection_for_the_next_call(
    openai_server: FakeOpenAIServer, client: httpx.AsyncClient
) -> None:
    adapter = _adapter(openai_server, client)
    await _read(await adapter.open_chat_stream(CREDENTIAL, REQUEST))
    await _read(await adapter.open_chat_stream(CREDENTIAL, REQUEST))
    await adapter.chat(CREDENTIAL, REQUEST)
    first, second, third = openai_server.requests_to("/chat/completions")
    assert first.peer == second.peer == third.peer  # one kept-alive connection


async def test_closing_a_stream_early_closes_the_providers_connection(
    openai_server: FakeOpenAIServer, client: httpx.AsyncClient
) -> None:
    openai_server.script(KEY, Fault.stream_stall(after=3))  # the provider still generating
    stream = await _adapter(openai_server, client).open_chat_stream(CREDENTIAL, REQUEST)
    await anext(stream)
    assert openai_server.open_connections() == 1
    await stream.aclose()
    await stream.aclose()  # closing twice is harmless
    assert [chunk async for chunk in stream] == []
    await _until(lambda: openai_server.open_connections() == 0)


async def test_a_read_cancelled_mid_stream_closes_the_stream_and_its_connection(
    openai_server: FakeOpenAIServer, client: httpx.AsyncClient
) -> None:
    # As when the gateway's own client goes away while the provider is still generating.
    openai_server.script(KEY, Fault.stream_stall(after=3))
    stream = await _adapter(openai_server, client).open_chat_stream(CREDENTIAL, REQUEST)
    with anyio.move_on_after(0.2) as scope:
        async for _ in stream:
            pass
    assert scope.cancelled_caught and stream.closed
    await _until(lambda: openai_server.open_connections() == 0)


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll a condition the server reaches on its own thread, up to a deadline."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await anyio.sleep(0.01)


@pytest.fixture
def resetting_server() -> Iterator[tuple[str, threading.Event]]:
    """A raw socket that answers with two events, then, once told, resets the connection (a
    TCP RST, as a crashed peer or a middlebox sends)."""
    reset = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            events = [
                {
                    "id": "c",
                    "model": "m",
                    "choices": [{"index": 0, "delta": {"role": "assistant"}}],
                },
                {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
            ]
            body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
            head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            connection.sendall(head + b"transfer-encoding: chunked\r\n\r\n")
            connection.sendall(b"%x\r\n%s\r\n" % (len(body), body))
            reset.wait(10)
            # Linger 0: close sends RST instead of FIN.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1", reset
    reset.set()
    thread.join(10)
    listener.close()


async def test_a_connection_reset_mid_stream_raises_a_connection_error(
    resetting_server: tuple[str, threading.Event], client: httpx.AsyncClient
) -> None:
    base_url, reset = resetting_server
    adapter = create_adapter("openai", base_url=base_url, http_client=client)
    assert isinstance(adapter, OpenAIAdapter)
    stream = await adapter.open_chat_stream(CREDENTIAL, REQUEST)
    reset.set()
    seen: list[str] = []
    with pytest.raises(errors.ProviderConnectionError) as caught:
        async for chunk in stream:
            seen.append(chunk.content)
    assert seen == ["", "Hi"]
    assert isinstance(caught.value.__cause__, httpx.ReadError)  # ECONNRESET, mapped

"""The official `openai` package, unchanged, against the gateway: sync and async clients,
streamed and not; sticky routing seen through the real HTTP path."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway.conftest import Served

MESSAGES = [{"role": "user", "content": "where is my parcel"}]


def _client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.v1, api_key=served.world.token, max_retries=0)


def test_the_sync_client_gets_a_chat_completion_named_after_the_endpoint(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    raw = _client(served).chat.completions.with_raw_response.create(
        model="assistant", messages=MESSAGES, user="customer-7"
    )
    completion = raw.parse()
    assert completion.model == "assistant"
    assert completion.choices[0].message.content == "echo: where is my parcel"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    version = int(raw.headers["x-modelops-version"])
    request_id = raw.headers["x-modelops-request-id"]
    # The upstream got the routed version's provider model id, with the team's key.
    [sent] = openai_server.requests_to("/chat/completions")
    assert sent.json()["model"] == f"gpt-fake-{version}"
    assert sent.key == "sk-test-gateway-0001"
    [outcome] = list(served.sink.outcomes)
    assert (outcome.request_id, outcome.success, outcome.model_version_id) == (
        request_id,
        True,
        version,
    )


def test_the_sync_client_streams_chunks_ending_in_done(served: Served) -> None:
    stream = _client(served).chat.completions.create(
        model="assistant", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: where is my parcel"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert {c.model for c in chunks} == {"assistant"}


def test_a_raw_stream_is_server_sent_events_closed_by_done(served: Served) -> None:
    headers = {"authorization": f"Bearer {served.world.token}"}
    body = {"model": "assistant", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{served.v1}/chat/completions", json=body, headers=headers) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-modelops-version"] in {"1", "2"}
        events = [line for line in r.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in events)


def test_the_async_client_streams_and_not(served: Served) -> None:
    async def run() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=served.v1, api_key=served.world.token, max_retries=0)
        async with client:
            plain = await client.chat.completions.create(model="assistant", messages=MESSAGES)
            stream = await client.chat.completions.create(
                model="assistant", messages=MESSAGES, stream=True
            )
            pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        return plain.choices[0].message.content or "", "".join(pieces)

    plain, streamed = asyncio.run(run())
    assert plain == streamed == "echo: where is my parcel"


def test_models_lists_the_teams_serving_endpoints(served: Served) -> None:
    models = _client(served).models.list()
    assert sorted(m.id for m in models.data) == ["assistant", "intent", "paint"]


def test_the_same_routing_key_always_gets_the_same_version(served: Served) -> None:
    client = _client(served)

    def version(**how: object) -> str:
        raw = client.chat.completions.with_raw_response.create(
            model="assistant", messages=MESSAGES, **how
        )
        return raw.headers["x-modelops-version"]

    for key in ("alice", "bob", "carol", "dave"):
        by_header = {version(extra_headers={"x-modelops-routing-key": key}) for _ in range(4)}
        by_user = {version(user=key) for _ in range(4)}
        assert len(by_header) == 1 and by_header == by_user, key
    # Random keys (no header, no user) reach both versions of the 50/50 split.
    seen = {version() for _ in range(40)}
    assert seen == {"1", "2"}


@pytest.mark.parametrize("stream", [False, True])
def test_a_provider_fault_before_the_first_byte_is_an_openai_error(
    served: Served, openai_server: FakeOpenAIServer, stream: bool
) -> None:
    from tests.fakes.server import Fault

    openai_server.always("sk-test-gateway-0001", Fault.bad_request("messages are malformed"))
    with pytest.raises(openai.BadRequestError) as caught:
        _client(served).chat.completions.create(model="assistant", messages=MESSAGES, stream=stream)
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "upstream_rejected_request"
    assert "messages are malformed" in error["message"]
    [outcome] = list(served.sink.outcomes)
    assert not outcome.success and outcome.error_class == "upstream_rejected_request"


def test_a_classifier_answers_a_chat_with_its_label(served: Served) -> None:
    completion = _client(served).chat.completions.create(
        model="intent", messages=[{"role": "user", "content": "I want my money back for order 12"}]
    )
    assert completion.choices[0].message.content in {
        "billing",
        "refund",
        "shipping",
        "login",
        "bug_report",
        "cancel_subscription",
        "account_update",
        "feature_request",
    }


def test_openai_fields_beyond_the_standard_ones_reach_an_openai_provider(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    _client(served).chat.completions.create(
        model="assistant", messages=MESSAGES, tools=tools, response_format={"type": "text"}
    )
    [sent] = openai_server.requests_to("/chat/completions")
    assert sent.json()["tools"] == tools and sent.json()["response_format"] == {"type": "text"}


def test_a_provider_that_cannot_send_a_field_refuses_it_by_name(served: Served) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _client(served).chat.completions.create(
            model="intent",
            messages=MESSAGES,
            tools=[{"type": "function", "function": {"name": "f"}}],
        )
    assert isinstance(caught.value.body, dict)
    assert (
        "extra.tools: provider kind 'local' cannot send this field" in caught.value.body["message"]
    )

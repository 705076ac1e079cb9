"""Streamed chat through the gateway: chunks pass through as they arrive, failover to
another key happens before the first byte only, and a fault after it ends the stream the
way OpenAI does (an error event, no [DONE]); every stream leaves its outcome."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from modelops.settings import Settings
from registry.database import Database
from registry.keys import KeyRepository, MasterKeyring
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.server import Fault
from tests.gateway.conftest import Served
from tests.gateway.support import FAKE_KEY, MASTER_KEY, stored_outcomes, wait_for

BACKUP_KEY = "sk-test-gateway-0002"
BODY = {
    "model": "assistant",
    "messages": [{"role": "user", "content": "tell me a story"}],
    "stream": True,
}


def _events(served: Served, body: dict[str, object] = BODY) -> tuple[httpx.Response, list[str]]:
    headers = {"authorization": f"Bearer {served.world.token}"}
    with httpx.stream("POST", f"{served.v1}/chat/completions", json=body, headers=headers) as r:
        return r, [line for line in r.iter_lines() if line]


def _add_backup_key(served: Served) -> None:
    ring = MasterKeyring.from_setting(Settings(master_key=MASTER_KEY).master_key)
    database = Database.open(served.world.url)
    with database.transaction() as session:
        KeyRepository(session, served.world.team, ring).add(
            "openai", "backup", BACKUP_KEY, priority=-1
        )
    database.close()


def test_a_key_refused_before_the_first_byte_fails_over_to_the_next(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    _add_backup_key(served)
    openai_server.script(FAKE_KEY, Fault.unauthorized())
    response, events = _events(served)
    assert response.status_code == 200
    assert events[-1] == "data: [DONE]"
    assert openai_server.keys_used() == [FAKE_KEY, BACKUP_KEY]
    text = "".join(
        (json.loads(e.removeprefix("data: "))["choices"] or [{"delta": {}}])[0]["delta"].get(
            "content"
        )
        or ""
        for e in events[:-1]
    )
    assert text == "echo: tell me a story"


def test_a_fault_after_the_first_byte_ends_the_stream_with_an_error_event(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    _add_backup_key(served)
    openai_server.script(FAKE_KEY, Fault.stream_reset(after=2))
    response, events = _events(served)
    assert response.status_code == 200  # the status went out with the first byte
    assert "data: [DONE]" not in events
    error = json.loads(events[-1].removeprefix("data: "))["error"]
    assert error["type"] == "upstream_error" and "provider" in error["message"]
    assert openai_server.keys_used() == [FAKE_KEY]  # no failover once bytes were sent
    request_id = response.headers["x-modelops-request-id"]
    wait_for(lambda: request_id in stored_outcomes(served.world.url), 10, "the outcome is stored")
    row = stored_outcomes(served.world.url)[request_id]
    assert not row.success and row.error_class == error["code"]


def test_the_openai_client_raises_on_the_error_event(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    openai_server.script(FAKE_KEY, Fault.stream_error(after=2))
    client = openai.OpenAI(base_url=served.v1, api_key=served.world.token, max_retries=0)
    stream = client.chat.completions.create(
        model="assistant", messages=BODY["messages"], stream=True
    )  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_a_finished_stream_records_its_usage_and_time_to_first_token(served: Served) -> None:
    response, events = _events(served, {**BODY, "stream_options": {"include_usage": True}})
    usage = json.loads(events[-2].removeprefix("data: "))["usage"]
    request_id = response.headers["x-modelops-request-id"]
    wait_for(lambda: request_id in stored_outcomes(served.world.url), 10, "the outcome is stored")
    row = stored_outcomes(served.world.url)[request_id]
    assert row.success and (row.input_tokens, row.output_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert row.ttft_us is not None and 0 < row.ttft_us <= row.latency_us


def test_without_include_usage_the_client_gets_no_usage_chunk(served: Served) -> None:
    _, events = _events(served)
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert all(chunk["choices"] for chunk in chunks)
    assert all("usage" not in chunk for chunk in chunks)
    assert {chunk["model"] for chunk in chunks} == {"assistant"}


def test_a_local_classifier_streams_its_label(served: Served) -> None:
    body = {
        "model": "intent",
        "messages": [{"role": "user", "content": "refund my order"}],
        "stream": True,
    }
    response, events = _events(served, body)
    assert response.status_code == 200 and events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text in {
        "refund",
        "billing",
        "shipping",
        "login",
        "bug_report",
        "cancel_subscription",
        "account_update",
        "feature_request",
    }


def test_a_streamed_request_is_mirrored_to_its_shadow_unstreamed(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    from registry.endpoints import RouteChange, ShadowedVersion, WeightedVersion, set_routes

    database = Database.open(served.world.url)
    with database.transaction() as session:
        change = RouteChange(
            endpoint="assistant",
            routes=[WeightedVersion(version=1, weight=100)],
            shadows=[ShadowedVersion(version=2, percent=100)],
            actor="ops",
            reason="shadow v2",
        )
        set_routes(session, served.world.team, change)
    database.close()
    body = {**BODY, "stream_options": {"include_usage": True}}
    wait_for(
        lambda: _events(served, body)[0].headers["x-modelops-version"] == "1", 1, "the new routes"
    )
    response, _ = _events(served, body)
    shadow_id = response.headers["x-modelops-request-id"] + ".shadow2"
    wait_for(lambda: served.sink.get(shadow_id) is not None, 5, "the shadow's outcome")
    shadow = served.sink.get(shadow_id)
    assert shadow is not None and shadow.success
    shadowed = [
        r.json()
        for r in openai_server.requests_to("/chat/completions")
        if r.json()["model"] == "gpt-fake-2"
    ]
    assert shadowed and all("stream" not in b and "stream_options" not in b for b in shadowed)


def test_a_client_that_goes_away_mid_stream_closes_the_upstream_and_is_recorded(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    openai_server.script(FAKE_KEY, Fault.stream_stall(after=2, seconds=3))
    headers = {"authorization": f"Bearer {served.world.token}"}
    with httpx.stream("POST", f"{served.v1}/chat/completions", json=BODY, headers=headers) as r:
        request_id = r.headers["x-modelops-request-id"]
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")  # the stream has begun; now hang up
    wait_for(lambda: request_id in stored_outcomes(served.world.url), 15, "the outcome is stored")
    row = stored_outcomes(served.world.url)[request_id]
    assert not row.success and row.error_class == "client_disconnected"
    wait_for(lambda: openai_server.open_connections() == 0, 15, "the upstream stream is closed")

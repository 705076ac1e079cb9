"""Executor-Configurator: resolve gives a consumer what to call (and, with `credentials`, a
leased key, recorded); the consumer reports the outcome under the request id it was given,
and feedback joins that request id later."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select

from registry.database import Database
from registry.leases.tables import KeyLeaseRow
from tests.gateway.conftest import Served
from tests.gateway.support import FAKE_KEY, stored_outcomes, wait_for


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_resolve_gives_the_routed_versions_configuration_and_a_leased_key(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = httpx.get(
        served.v1 + "/endpoints/assistant/resolve",
        headers=_auth(served.world.token) | {"x-modelops-routing-key": "tenant-42"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    version = body["version"]
    assert response.headers["x-modelops-version"] == str(version)
    assert body["request_id"] == response.headers["x-modelops-request-id"]
    assert body["model"] == f"gpt-fake-{version}"
    assert body["provider"]["kind"] == "openai" and body["provider"]["base_url"].endswith("/v1")
    assert body["credential"]["api_key"] == FAKE_KEY and body["credential"]["last4"] == "0001"
    database = Database.open(served.world.url)
    with database.transaction() as session:
        [lease] = session.scalars(select(KeyLeaseRow)).all()
    database.close()
    assert (lease.request_id, lease.token_id, lease.key_id) == (
        body["request_id"],
        served.world.token_id,
        body["credential"]["key_id"],
    )
    assert FAKE_KEY not in caplog.text
    # Sticky: the same key resolves to the same version.
    again = httpx.get(
        served.v1 + "/endpoints/assistant/resolve",
        headers=_auth(served.world.token) | {"x-modelops-routing-key": "tenant-42"},
    )
    assert again.json()["version"] == version


def test_resolve_without_the_credentials_scope_leases_nothing(served: Served) -> None:
    database = Database.open(served.world.url)
    with database.transaction() as session:
        from registry.tokens import Scope, TokenRepository

        token = TokenRepository(session, served.world.team).create("resolver", [Scope.RESOLVE])
    response = httpx.get(
        served.v1 + "/endpoints/intent/resolve", headers=_auth(token.token.get_secret_value())
    )
    assert response.status_code == 200 and response.json()["credential"] is None
    assert response.json()["category"] == "classification"
    with database.transaction() as session:
        assert session.scalars(select(KeyLeaseRow)).all() == []
    database.close()


def test_reported_outcomes_join_their_request_id_once(served: Served) -> None:
    auth = _auth(served.world.token)
    resolved = httpx.get(served.v1 + "/endpoints/assistant/resolve", headers=auth).json()
    report = {
        "request_id": resolved["request_id"],
        "endpoint": "assistant",
        "version": resolved["version"],
        "latency_ms": 812.5,
        "success": True,
        "input_tokens": 120,
        "output_tokens": 30,
        "metrics": {"tool_calls": 2},
    }
    failed = {
        "request_id": resolved["request_id"] + "-b",
        "endpoint": "assistant",
        "version": 1,
        "latency_ms": 30,
        "success": False,
        "error_class": "upstream_timeout",
    }
    for _ in range(2):  # a retried batch records nothing twice
        response = httpx.post(
            served.v1 + "/outcomes", json={"outcomes": [report, failed]}, headers=auth
        )
        assert response.status_code == 200 and response.json()["accepted"] == 2
    wait_for(lambda: len(stored_outcomes(served.world.url)) == 2, 10, "both rows are stored")
    stored = stored_outcomes(served.world.url)
    assert set(stored) == {resolved["request_id"], failed["request_id"]}  # once each
    mine = stored[resolved["request_id"]]
    assert (mine.latency_us, mine.input_tokens, mine.output_tokens) == (812_500, 120, 30)
    assert mine.model_version_id == resolved["version"]  # versions 1 and 2 are ids 1 and 2
    assert mine.metrics == {"tool_calls": 2.0}
    assert stored[failed["request_id"]].error_class == "upstream_timeout"


@pytest.mark.parametrize(
    ("item", "param", "says"),
    [
        ({"latency_ms": -1}, "outcomes[1].latency_ms", "milliseconds from 0"),
        ({"success": "yes"}, "outcomes[1].success", "true or false"),
        ({"success": False}, "outcomes[1].error_class", "when success is false"),
        ({"version": 9}, "outcomes[1].version", "has no version 9"),
        ({"request_id": "has space"}, "outcomes[1].request_id", "request id"),
        ({"colour": "red"}, "outcomes[1].colour", "not an outcome field"),
        ({"metrics": {"Bad-Name": 1}}, "outcomes[1].metrics", "snake_case"),
    ],
)
def test_a_bad_outcome_refuses_the_whole_batch_by_field(
    served: Served, item: dict[str, object], param: str, says: str
) -> None:
    good = {
        "request_id": "req_good1",
        "endpoint": "assistant",
        "version": 1,
        "latency_ms": 5,
        "success": True,
    }
    bad = {**good, "request_id": "req_bad1", **item}
    response = httpx.post(
        served.v1 + "/outcomes", json={"outcomes": [good, bad]}, headers=_auth(served.world.token)
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and says in error["message"]
    assert list(served.sink.outcomes) == []


def test_feedback_joins_a_served_request_by_its_id(served: Served) -> None:
    auth = _auth(served.world.token)
    chat = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(served.v1 + "/chat/completions", json=chat, headers=auth)
    request_id = answer.headers["x-modelops-request-id"]
    wait_for(lambda: request_id in stored_outcomes(served.world.url), 10, "the outcome is stored")

    def feedback(body: dict[str, object], token: str = served.world.token) -> httpx.Response:
        return httpx.post(served.v1 + "/feedback", json=body, headers=_auth(token))

    first = feedback({"request_id": request_id, "quality": 0.9})
    assert first.json() == {"object": "feedback", "request_id": request_id, "status": "applied"}
    later = feedback({"request_id": request_id, "metrics": {"customer_satisfaction": 4.2}})
    assert later.status_code == 200
    row = stored_outcomes(served.world.url)[request_id]
    assert (row.quality, row.metrics) == (0.9, {"customer_satisfaction": 4.2})
    assert feedback({"request_id": "req_not_yet", "quality": 1}).json()["status"] == "pending"
    # Another team's feedback for this request id never reaches it.
    theirs = feedback({"request_id": request_id, "quality": 0.1}, served.world.b_token)
    assert theirs.json()["status"] == "pending"
    assert stored_outcomes(served.world.url)[request_id].quality == 0.9
    empty = feedback({"request_id": request_id})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "quality"

"""A token never reaches another team's endpoints: they answer 404 exactly like a missing
one, in /v1/models and in every route."""

from __future__ import annotations

import httpx

from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway.conftest import Served


def _calls(served: Served, endpoint: str) -> list[tuple[str, str, dict[str, object] | None]]:
    chat = {"model": endpoint, "messages": [{"role": "user", "content": "hi"}]}
    outcome = {
        "request_id": "req_x1",
        "endpoint": endpoint,
        "version": 1,
        "latency_ms": 5,
        "success": True,
    }
    return [
        ("POST", "/chat/completions", chat),
        ("POST", "/chat/completions", {**chat, "stream": True}),
        ("POST", f"/endpoints/{endpoint}/invoke", {"text": "refund please"}),
        ("GET", f"/endpoints/{endpoint}/resolve", None),
        ("POST", "/outcomes", {"outcomes": [outcome]}),
    ]


def test_team_b_gets_404_for_team_a_endpoints_exactly_like_missing_ones(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    b = {"authorization": f"Bearer {served.world.b_token}"}
    for theirs, missing in [("assistant", "no-such-endpoint"), ("intent", "no-such-endpoint")]:
        for (method, path, body), (_, missing_path, missing_body) in zip(
            _calls(served, theirs), _calls(served, missing), strict=True
        ):
            other = httpx.request(method, served.v1 + path, json=body, headers=b)
            absent = httpx.request(method, served.v1 + missing_path, json=missing_body, headers=b)
            assert other.status_code == absent.status_code == 404, (path, other.text)
            assert other.json() == _renamed(absent.json(), missing, theirs), path
    models = httpx.get(served.v1 + "/models", headers=b).json()
    assert [m["id"] for m in models["data"]] == ["b-chat"]
    assert openai_server.requests == [] and list(served.sink.outcomes) == []


def test_team_a_sees_its_own_and_not_team_bs(served: Served) -> None:
    a = {"authorization": f"Bearer {served.world.token}"}
    chat = {"model": "b-chat", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(served.v1 + "/chat/completions", json=chat, headers=a)
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("endpoint 'b-chat' does not exist")


def _renamed(body: dict[str, object], old: str, new: str) -> dict[str, object]:
    """The missing endpoint's answer with its name swapped: what the other team's must equal."""
    import json

    return json.loads(json.dumps(body).replace(old, new))  # type: ignore[no-any-return]

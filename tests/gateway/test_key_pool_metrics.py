"""/metrics shows the key pools as the gateway's in-process KeyPoolView holds them: keys by
team, provider and state (available, leased by a call in flight, cooling, disabled), from
memory, so the scrape still says it while the database is away."""

from __future__ import annotations

import threading

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.gateway.conftest import Served
from tests.gateway.support import FAKE_KEY, wait_for
from tests.gateway.test_operations import _database_away

STATES = ("available", "leased", "cooling", "disabled")


def _key_states(served: Served) -> dict[tuple[str, str], dict[str, float]]:
    response = httpx.get(served.url + "/metrics")
    assert response.status_code == 200
    states: dict[tuple[str, str], dict[str, float]] = {}
    for family in text_string_to_metric_families(response.text):
        if family.name != "modelops_gateway_provider_keys":
            continue
        for sample in family.samples:
            labels = sample.labels
            pool = states.setdefault((labels["team"], labels["provider"]), {})
            pool[labels["state"]] = sample.value
    return states


def _chat(served: Served, token: str, endpoint: str) -> httpx.Response:
    return httpx.post(
        served.v1 + "/chat/completions",
        json={"model": endpoint, "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )


def _only(state: str) -> dict[str, float]:
    return {name: float(name == state) for name in STATES}


def test_key_states_come_from_the_view_and_outlast_the_database(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    world = served.world
    assert _key_states(served) == {}  # no pool used yet: the view holds none
    assert _chat(served, world.token, "assistant").status_code == 200
    assert _key_states(served) == {("team-a", "openai"): _only("available")}

    # A call in flight holds its key: leased while it waits on the upstream, then back.
    openai_server.script(FAKE_KEY, Fault.hang(seconds=5))
    answered: list[int] = []
    call = threading.Thread(
        target=lambda: answered.append(_chat(served, world.token, "assistant").status_code)
    )
    call.start()
    wait_for(
        lambda: _key_states(served)[("team-a", "openai")] == _only("leased"),
        5,
        "the key shows as leased while its call waits on the upstream",
    )
    call.join()
    assert answered == [200]
    assert _key_states(served)[("team-a", "openai")] == _only("available")

    # Team B's key answers 401 (disabled); then team A's is rate limited (cooling).
    openai_server.script(FAKE_KEY, Fault.unauthorized())
    assert _chat(served, world.b_token, "b-chat").status_code >= 400
    openai_server.script(FAKE_KEY, Fault.rate_limited(retry_after="600"))
    assert _chat(served, world.token, "assistant").status_code >= 400
    expected = {("team-a", "openai"): _only("cooling"), ("team-b", "openai"): _only("disabled")}
    assert _key_states(served) == expected

    with _database_away(world.url):  # the old scrape read the keys table: now it need not
        assert _key_states(served) == expected

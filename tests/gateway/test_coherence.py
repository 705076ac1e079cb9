"""Two `modelops gateway` processes on one database: a route change, an undeploy or a token
revocation committed elsewhere is served by both within a second (LISTEN/NOTIFY)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from registry.database import Database
from registry.endpoints import (
    EndpointChange,
    RouteChange,
    WeightedVersion,
    set_routes,
    undeploy_endpoint,
)
from registry.tokens import TokenRepository
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.server import Fault
from tests.gateway.support import FAKE_KEY, MASTER_KEY, World, gateway_process, wait_for

pytestmark = pytest.mark.slow
CHAT = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}


def _env(world: World) -> dict[str, str]:
    return {
        "MODELOPS_DATABASE_URL": world.url,
        "MODELOPS_DATA_DIR": str(world.data_dir),
        "MODELOPS_MASTER_KEY": MASTER_KEY,
    }


@pytest.fixture
def two_gateways(world: World) -> Iterator[tuple[str, str]]:
    with gateway_process(_env(world)) as first, gateway_process(_env(world)) as second:
        yield first.url, second.url


def _within_a_second(what: str, condition: Callable[[], bool]) -> float:
    """Seconds until `condition` held, polled; fails past one second."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > 1.0:
            raise AssertionError(f"not within 1 s: {what}")
    return time.monotonic() - started


def test_changes_committed_elsewhere_reach_both_gateways_within_a_second(
    world: World, two_gateways: tuple[str, str]
) -> None:
    auth = {"authorization": f"Bearer {world.token}"}

    def version(url: str, key: str) -> str:
        headers = auth | {"x-modelops-routing-key": key}
        response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers)
        return response.headers.get("x-modelops-version", str(response.status_code))

    # A key the 50/50 split puts on version 1, on both gateways (their caches are warm now).
    key = next(k for k in (f"user-{i}" for i in range(100)) if version(two_gateways[0], k) == "1")
    assert all(version(url, key) == "1" for url in two_gateways)
    database = Database.open(world.url)
    with database.transaction() as session:
        change = RouteChange(
            endpoint="assistant",
            routes=[WeightedVersion(version=2, weight=100)],
            actor="ops",
            reason="all on v2",
        )
        set_routes(session, world.team, change)
    for url in two_gateways:
        _within_a_second(f"{url} routes to v2", lambda url=url: version(url, key) == "2")

    with database.transaction() as session:
        undeploy_endpoint(
            session, world.team, EndpointChange(endpoint="assistant", actor="ops", reason="done")
        )
    for url in two_gateways:
        _within_a_second(
            f"{url} refuses the undeployed endpoint", lambda url=url: version(url, key) == "409"
        )

    def models_status(url: str) -> int:
        return httpx.get(f"{url}/v1/models", headers=auth).status_code

    assert [models_status(url) for url in two_gateways] == [200, 200]
    with database.transaction() as session:
        TokenRepository(session, world.team).revoke(world.token_id)
    database.close()
    for url in two_gateways:
        _within_a_second(
            f"{url} refuses the revoked token", lambda url=url: models_status(url) == 401
        )


def test_sigterm_lets_the_request_in_flight_finish_then_exits_cleanly(
    world: World, openai_server: FakeOpenAIServer
) -> None:
    openai_server.script(FAKE_KEY, Fault.hang(1.0))  # the next answer takes a second
    with gateway_process(_env(world)) as gateway:
        auth = {"authorization": f"Bearer {world.token}"}
        answers: list[httpx.Response] = []
        slow = threading.Thread(
            target=lambda: answers.append(
                httpx.post(
                    f"{gateway.url}/v1/chat/completions", json=CHAT, headers=auth, timeout=30
                )
            )
        )
        slow.start()
        wait_for(lambda: openai_server.requests_to("/chat/completions"), 10, "the call is upstream")
        gateway.process.send_signal(signal.SIGTERM)
        slow.join(timeout=30)
        # uvicorn re-raises SIGTERM once it has shut down, so the exit is by that signal.
        assert gateway.process.wait(timeout=30) in (0, -signal.SIGTERM)
        output = gateway.process.stdout.read().decode() if gateway.process.stdout else ""
    [answer] = answers
    assert (
        answer.status_code == 200
        and answer.json()["choices"][0]["message"]["content"] == "echo: hi"
    )
    assert "Traceback" not in output and FAKE_KEY not in output

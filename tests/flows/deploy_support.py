"""Shared setup for the deploy flow tests (no tests here): the gateway world of
tests/gateway (chat model `chatbot` on the fake OpenAI server) with a development endpoint
`canary-chat` serving v1, a third version whose upstream model fails a set share of chats,
clients sending real requests through the gateway with the official openai client, and
the flow running in a thread of this process."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import openai
import pytest

from flows.deploy import DeployOutcome, deploy
from flows.params import DeployLooks, DeployParams
from registry.database import Database
from registry.endpoints import NewEndpoint, create_endpoint
from registry.lifecycle import NewVersion, register_version
from registry.rollouts.policy import RolloutOverrides
from tasks import context
from tests.gateway.conftest import Served
from tests.gateway.support import Recorded, World, running_gateway, settings_for

ENDPOINT = "canary-chat"
BROKEN = "gpt-fake-broken"


@pytest.fixture
def gateway(world: World) -> Iterator[Served]:
    """The gateway with a short call budget: a request that meets a cooled upstream model
    fails at once (recorded as an error) instead of waiting out the cooldown."""
    sink = Recorded()
    settings = settings_for(world).model_copy(update={"gateway_call_budget_seconds": 2.0})
    with running_gateway(settings, sink) as url:
        yield Served(url, sink, world)


def prepare(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint and the broken version; tasks act for team-a on the world's database."""
    database = Database.open(world.url)
    try:
        with database.transaction() as session:
            new = NewEndpoint(name=ENDPOINT, model="chatbot", environment="development",
                              version=1, actor="tester")  # fmt: skip
            create_endpoint(session, world.team, new)
            register_version(session, world.team,
                             NewVersion(model="chatbot", provider_model_id=BROKEN, actor="t"))  # fmt: skip
    finally:
        database.close()
    monkeypatch.setenv("MODELOPS_DATABASE_URL", world.url)
    monkeypatch.setenv("MODELOPS_DATA_DIR", str(world.data_dir))
    monkeypatch.setenv("MODELOPS_TEAM", "team-a")
    context.settings.cache_clear()
    context.database.cache_clear()


def params(version: int, **policy: Any) -> DeployParams:
    values: dict[str, Any] = {
        "strategy": "canary",
        "steps": [50, 100],
        "max_looks": 10,
        "bake_seconds": 0,
        "min_samples": 150,
        "max_error_rate_increase": 0.01,
        "max_latency_increase_ratio": None,
    }
    values.update(policy)
    return DeployParams(
        endpoint=ENDPOINT,
        version=version,
        actor="ann",
        reason="test",
        policy=RolloutOverrides.model_validate(values),
        looks=DeployLooks(every_requests=300, every_seconds=5, poll_seconds=0.1),
    )


class FlowThread:
    def __init__(self, run: DeployParams) -> None:
        self.box: dict[str, DeployOutcome | BaseException] = {}
        self.thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._run, run), daemon=True
        )
        self.thread.start()

    def _run(self, run: DeployParams) -> None:
        try:
            self.box["result"] = asyncio.run(deploy(run))
        except BaseException as exc:
            self.box["result"] = exc

    def result(self, timeout: float = 240) -> DeployOutcome:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the deploy flow did not finish"
        found = self.box["result"]
        if isinstance(found, BaseException):
            raise found
        return found


@contextmanager
def clients(
    url: str, token: str, workers: int = 6, endpoint: str = ENDPOINT
) -> Iterator[dict[str, int]]:
    """Clients with their own routing keys sending chats until the block ends; counts of
    answers by version (and `error`)."""
    counts: dict[str, int] = {}
    stop = threading.Event()
    ids = itertools.count()
    lock = threading.Lock()

    def work() -> None:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0, timeout=10)
        while not stop.is_set():
            n = next(ids)
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model=endpoint, messages=[{"role": "user", "content": f"ticket {n}"}],
                    user=f"customer-{n}",
                )  # fmt: skip
                seen = f"v{raw.headers.get('x-modelops-version')}"
            except openai.APIError:
                seen = "error"
            with lock:
                counts[seen] = counts.get(seen, 0) + 1

    with ThreadPoolExecutor(workers) as pool:
        for _ in range(workers):
            pool.submit(work)
        try:
            yield counts
        finally:
            stop.set()

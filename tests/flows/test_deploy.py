"""The deploy flow on a real Prefect server, judged on real requests through the gateway
(the official openai client → gateway → fake OpenAI upstream → outcomes → rollups): a
canary whose upstream fails 2% of chats is rolled back within its first judged step, an
equal one reaches 100%; every route change keeps the weights at 100."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from registry.database import Database
from registry.endpoints import EndpointRepository
from registry.endpoints.tables import RouteLedgerRow
from registry.model_repository import ModelRepository
from registry.rollouts.domain import Verdict
from registry.rollouts.repository import RolloutRepository
from registry.stages import Stage
from tests.fakes.openai_server import FakeOpenAIServer
from tests.flows.deploy_support import (
    BROKEN,
    ENDPOINT,
    FlowThread,
    clients,
    gateway,
    params,
    prepare,
)
from tests.gateway.conftest import Served, trained_local, world

__all__ = ["gateway", "trained_local", "world"]
from tests.support.prefect_server import PrefectServer


def _read(served: Served, rollout_id: int) -> tuple[list[object], dict[int, Stage], list[int]]:
    database = Database.open(served.world.url)
    try:
        with database.transaction() as session:
            team = served.world.team
            looked = RolloutRepository(session, team).measurements(rollout_id)
            stages = {
                v.version: v.stage for v in ModelRepository(session, team).versions("chatbot")
            }
            rows = session.scalars(select(RouteLedgerRow).order_by(RouteLedgerRow.id)).all()
            sums = [sum(r["weight"] for r in row.after if r["role"] != "shadow") for row in rows]
            routes = EndpointRepository(session, team).get(ENDPOINT).routes
    finally:
        database.close()
    return [looked, routes], stages, sums


def test_a_canary_two_points_worse_is_rolled_back_in_its_first_judged_step(
    gateway: Served, openai_server: FakeOpenAIServer, prefect_api: PrefectServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    served = gateway
    prepare(served.world, monkeypatch)
    openai_server.failure_rates[BROKEN] = 0.02  # two points worse than v1, which never fails
    with clients(served.url, served.world.token) as counts:
        outcome = FlowThread(params(3, max_error_rate_increase=0.005)).result()
    assert outcome.status == "rolled_back", outcome.outcome
    assert outcome.step == 1
    (looked, routes), stages, sums = _read(served, outcome.rollout_id)
    judged = [m for m in looked if m.verdict is not Verdict.INCONCLUSIVE]  # type: ignore[attr-defined]
    deciding = judged[0]
    assert deciding is looked[-1] and deciding.verdict is Verdict.FAIL  # type: ignore[attr-defined]
    assert deciding.candidate.errors > 0 and deciding.baseline.errors == 0  # type: ignore[attr-defined]
    assert [(r.version, r.weight) for r in routes] == [(1, 100)]  # type: ignore[attr-defined]
    assert stages[3] is Stage.REJECTED
    assert sums and set(sums) == {100}
    assert counts.get("v3", 0) > 0 and counts.get("v1", 0) > counts.get("v3", 0)


def test_an_equal_canary_reaches_100_percent_through_its_steps(
    gateway: Served, openai_server: FakeOpenAIServer, prefect_api: PrefectServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    served = gateway
    prepare(served.world, monkeypatch)
    with clients(served.url, served.world.token):
        outcome = FlowThread(params(2, min_samples=300, max_error_rate_increase=0.02)).result()
    assert outcome.status == "succeeded", outcome.outcome
    (looked, routes), stages, sums = _read(served, outcome.rollout_id)
    assert [(r.version, r.weight) for r in routes] == [(2, 100)]  # type: ignore[attr-defined]
    assert {m.step for m in looked} == {0}  # type: ignore[attr-defined]
    assert stages[2] is Stage.DEVELOPMENT  # a development endpoint moves no stage
    assert set(sums) == {100}

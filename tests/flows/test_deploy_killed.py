"""kill -9 of a deploy run mid-step, then the same deploy again: the same rollout resumes at
the same step with every measurement kept and no step repeated; while a run is alive, a
second one is refused."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.deploy import deploy
from flows.params import DeployLooks, DeployParams
from modelops.abtest_traffic import SyntheticTraffic
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.endpoints import Environment
from registry.endpoints.tables import RouteLedgerRow
from registry.errors import ConflictError
from registry.rollouts.domain import DecisionKind, RolloutStatus
from registry.rollouts.policy import RolloutOverrides
from registry.rollouts.repository import RolloutRepository
from registry.rollouts.tables import RolloutRow
from tests.flows.conftest import wait_until
from tests.registry.test_endpoints_support import create, seed_versions
from tests.support.prefect_server import PrefectServer, stop_process

REPO = Path(__file__).resolve().parents[2]
ENDPOINT = "support-prod"


@pytest.fixture
def sessions(registry_env: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(registry_env)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def team(sessions: sessionmaker[Session]) -> Team:
    with sessions.begin() as session:
        team = seed_versions(session, "default")
        create(session, team, ENDPOINT, Environment.PRODUCTION)
    return team


def _params() -> DeployParams:
    policy = RolloutOverrides(strategy="canary", steps=[20, 100], bake_seconds=0, min_samples=300,
                              max_error_rate_increase=0.02, max_looks=40)  # fmt: skip
    looks = DeployLooks(every_requests=400, every_seconds=0.3, poll_seconds=0.1)
    return DeployParams(endpoint=ENDPOINT, version=2, actor="ann", policy=policy, looks=looks)


def _rollout(sessions: sessionmaker[Session], team: Team) -> RolloutRow | None:
    with sessions.begin() as session:
        return session.scalars(select(RolloutRow)).first()


def test_a_killed_deploy_resumes_the_same_rollout_at_the_same_step(
    sessions: sessionmaker[Session], team: Team, prefect_api: PrefectServer, tmp_path: Path
) -> None:
    params = _params()
    with (tmp_path / "deploy.log").open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.flows.deploy_child", params.model_dump_json()],
            cwd=REPO, env={**os.environ, **prefect_api.env()}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: _measured(sessions, team) >= 1, timeout=120, what="a measurement")
        early = SyntheticTraffic(sessions, team, success={1: 0.99, 2: 0.99}, seed=2)
        early.send(ENDPOINT, 400)  # too few for a verdict: the step holds
        wait_until(lambda: _measured(sessions, team) >= 2, timeout=120, what="two measurements")
        with pytest.raises(ConflictError, match="being driven by another run"):
            asyncio.run(deploy(params))  # the child is alive: refused, naming the rollout
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        stop_process(child)
    row = _rollout(sessions, team)
    assert row is not None
    with sessions.begin() as session:
        rollouts = RolloutRepository(session, team)
        before = rollouts.measurements(row.id)
        killed_at = rollouts.get(row.id)
    assert killed_at.status is RolloutStatus.PROGRESSING and killed_at.step == 0

    source = SyntheticTraffic(sessions, team, success={1: 0.99, 2: 0.99}, seed=1)
    source.send(ENDPOINT, 8000)  # v2 at 20%: about 1600 more candidate requests
    outcome = asyncio.run(deploy(params))

    assert outcome.rollout_id == row.id and outcome.status == "succeeded", outcome.outcome
    with sessions.begin() as session:
        rollouts = RolloutRepository(session, team)
        after = rollouts.measurements(row.id)
        decisions = rollouts.decisions(row.id)
        sums = [
            sum(r["weight"] for r in ledger.after if r["role"] != "shadow")
            for ledger in session.scalars(select(RouteLedgerRow))
        ]
    assert after[: len(before)] == before  # nothing lost or rewritten
    assert [m.number for m in after] == list(range(1, len(after) + 1))
    assert [d.kind for d in decisions].count(DecisionKind.START) == 1  # no step repeated
    resumed = [m for m in after[len(before) :] if m.step == 0]
    assert resumed and resumed[-1].candidate.requests >= 300
    assert set(sums) == {100}


def _measured(sessions: sessionmaker[Session], team: Team) -> int:
    row = _rollout(sessions, team)
    if row is None:
        return 0
    with sessions.begin() as session:
        return len(RolloutRepository(session, team).measurements(row.id))

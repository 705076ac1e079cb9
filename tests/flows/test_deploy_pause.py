"""A rollout undecided at its deadline pauses the deploy run in Prefect with its evidence
above a form; the answer (as the UI sends it) rolls it back; `modelops rollouts resume`
moves a paused run on from the command line."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.answers import flow_run_state
from flows.deploy import DeployOutcome, deploy
from flows.params import DeployLooks, DeployParams
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.endpoints import Environment
from registry.rollouts.policy import RolloutOverrides
from registry.rollouts.tables import RolloutRow
from tests.cli.conftest import Cli
from tests.flows.conftest import wait_until
from tests.registry.test_endpoints_support import create, seed_versions
from tests.support.prefect_server import PrefectServer


@pytest.fixture
def sessions(registry_env: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(registry_env)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def team(sessions: sessionmaker[Session]) -> Team:
    with sessions.begin() as session:
        team = seed_versions(session, "default")
        create(session, team, "support-dev", Environment.DEVELOPMENT)
    return team


def _start(version: int) -> tuple[threading.Thread, dict[str, object]]:
    policy = RolloutOverrides(strategy="canary", steps=[20, 100], bake_seconds=0,
                              min_samples=100, step_deadline_seconds=1)  # fmt: skip
    params = DeployParams(endpoint="support-dev", version=version, actor="ann", policy=policy,
                          looks=DeployLooks(every_requests=10, every_seconds=0.5,
                                            poll_seconds=0.1))  # fmt: skip
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = asyncio.run(deploy(params))
        except BaseException as exc:
            box["result"] = exc

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True)
    thread.start()
    return thread, box


def _paused_run(sessions: sessionmaker[Session]) -> str | None:
    with sessions.begin() as session:
        row = session.scalars(select(RolloutRow).order_by(RolloutRow.id.desc())).first()
        run_id = row.flow_run_id if row is not None and row.status == "paused" else None
    if run_id is not None and flow_run_state(run_id) is StateType.PAUSED:
        return run_id
    return None


def test_an_undecided_rollout_pauses_in_prefect_and_the_answer_rolls_it_back(
    sessions: sessionmaker[Session], team: Team, prefect_api: PrefectServer, cli: Cli
) -> None:
    thread, box = _start(2)
    run_id = str(wait_until(lambda: _paused_run(sessions), timeout=120, what="the pause"))
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(run_id))
    assert run.name == "deploy-support-dev-v2"
    resume_flow_run(UUID(run_id), run_input={"action": "rollback", "actor": "bob",
                                              "reason": "no traffic yet"})  # fmt: skip
    thread.join(120)
    outcome = box["result"]
    assert isinstance(outcome, DeployOutcome), outcome
    assert outcome.status == "rolled_back" and "aborted by bob: no traffic yet" in outcome.outcome

    thread, box = _start(1)
    wait_until(lambda: _paused_run(sessions), timeout=120, what="the second pause")
    resumed = cli("rollouts", "resume", str(outcome.rollout_id + 1), "--actor", "ann",
                  "--reason", "wait longer")  # fmt: skip
    assert resumed.code == 0, resumed.err
    # Resumed with no traffic, the step is undecided again at its deadline: paused again.
    wait_until(lambda: _paused_run(sessions), timeout=120, what="the pause after the resume")
    aborted = cli("rollouts", "abort", str(outcome.rollout_id + 1), "--actor", "ann",
                  "--reason", "enough")  # fmt: skip
    assert aborted.code == 0, aborted.err
    thread.join(120)
    second = box["result"]
    assert isinstance(second, DeployOutcome), second
    assert second.status == "rolled_back" and "aborted by ann: enough" in second.outcome

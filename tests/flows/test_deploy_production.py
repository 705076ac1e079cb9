"""A staging candidate deployed onto a production endpoint whose policy needs approvers:
the deploy asks them first (promote's machinery: the form in the Prefect UI, the reviewer
proven by a one-time code), then rolls the canary out; reaching 100% settles that
conditional approval by moving the candidate into production (the old one archived)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prefect.client.schemas.objects import StateType
from sqlalchemy.orm import Session, sessionmaker

from flows.answers import answer, flow_run_state
from flows.deploy import DeployOutcome, deploy
from flows.params import DeployLooks, DeployParams
from modelops.abtest_traffic import SyntheticTraffic
from registry.approvals import ApprovalRepository
from registry.database import make_engine, make_session_factory
from registry.domain import ApprovalStatus, Team
from registry.endpoints import EndpointRepository, Environment
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.rollouts.domain import RolloutStatus
from registry.rollouts.policy import RolloutOverrides
from registry.rollouts.repository import RolloutRepository
from registry.stages import Stage
from tasks import context as task_context
from tests.flows.conftest import wait_until
from tests.registry.seed import add_version, advance, promote_with_approval, seed_model
from tests.registry.test_endpoints_support import create
from tests.support.approvers import MASTER_KEY, code, enrol
from tests.support.prefect_server import PrefectServer

POLICY = {"production": {"approvers": ["alice", "bob"], "min_approvals": 1, "four_eyes": True}}
ENDPOINT = "support-prod"


@pytest.fixture
def world(
    registry_env: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Team, dict[str, str]]]:
    monkeypatch.setenv("MODELOPS_MASTER_KEY", MASTER_KEY)
    task_context.settings.cache_clear()
    engine = make_engine(registry_env)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_model(session, "default", policy=POLICY)
        v1 = add_version(session, team)
        advance(session, team, v1, Stage.STAGING)
        promote_with_approval(session, team, v1)
        advance(session, team, add_version(session, team), Stage.STAGING)
        create(session, team, ENDPOINT, Environment.PRODUCTION)
        secrets = enrol(session, team, "alice", "bob")
    yield sessions, team, secrets
    engine.dispose()


def _paused_approval(sessions: sessionmaker[Session], team: Team) -> Any:
    with sessions.begin() as session:
        pending = ApprovalRepository(session, team).all(status=ApprovalStatus.PENDING)
    for approval in pending:
        if approval.flow_run_id and flow_run_state(approval.flow_run_id) is StateType.PAUSED:
            return approval
    return None


def test_a_production_canary_asks_its_approvers_first_and_enters_production_at_100(
    prefect_api: PrefectServer, world: tuple[Any, Team, dict[str, str]]
) -> None:
    sessions, team, secrets = world
    policy = RolloutOverrides(strategy="canary", steps=[50, 100], bake_seconds=0,
                              min_samples=300, max_error_rate_increase=0.02)  # fmt: skip
    params = DeployParams(endpoint=ENDPOINT, version=2, actor="ann", policy=policy,
                          looks=DeployLooks(every_requests=500, every_seconds=1,
                                            poll_seconds=0.1))  # fmt: skip
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = asyncio.run(deploy(params))
        except BaseException as exc:
            box["result"] = exc

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True)
    thread.start()
    approval = wait_until(lambda: _paused_approval(sessions, team), timeout=120, what="approval")
    with sessions.begin() as session:
        assert RolloutRepository(session, team).list() == []  # nothing moved before it
    answer(approval.flow_run_id, approve=True, reviewer="alice", code=code(secrets["alice"]),
           comment="if the canary passes")  # fmt: skip
    wait_until(lambda: _running(sessions, team), timeout=120, what="the first step")
    # Traffic until the rollout ends: a single burst could be judged undecided at its last
    # look, and with no new request after it nothing would be looked at again.
    clients = SyntheticTraffic(sessions, team, success={1: 0.99, 2: 0.99}, seed=4)
    deadline = time.monotonic() + 180
    while thread.is_alive() and time.monotonic() < deadline:
        clients.send(ENDPOINT, 500)
        thread.join(1.0)  # the run ends, or the next batch goes out
    assert not thread.is_alive(), "the deploy did not end within 180 s of traffic"
    outcome = box["result"]
    assert isinstance(outcome, DeployOutcome), outcome
    assert outcome.status == "succeeded", outcome.outcome
    assert "v2 is now in production, v1 archived" in outcome.outcome
    with sessions.begin() as session:
        models = ModelRepository(session, team)
        stages = {v.version: v.stage for v in models.versions("support-intent")}
        entry = LedgerRepository(session, team).history(models.row("support-intent"))[-1]
        endpoint = EndpointRepository(session, team).get(ENDPOINT)
    assert (stages[1], stages[2]) == (Stage.ARCHIVED, Stage.PRODUCTION)
    assert (entry.version, entry.to_stage) == (2, Stage.PRODUCTION)
    assert entry.evidence["rollout"] == outcome.rollout_id
    assert [(r.version, r.weight) for r in endpoint.routes] == [(2, 100)] and endpoint.owner is None


def _running(sessions: sessionmaker[Session], team: Team) -> bool:
    with sessions.begin() as session:
        found = RolloutRepository(session, team).list()
    return bool(found) and found[0].status is RolloutStatus.PROGRESSING

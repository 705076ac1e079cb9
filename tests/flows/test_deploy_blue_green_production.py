"""Blue-green onto a production endpoint whose policy needs approvers: the preview is smoke-
tested through the gateway first, then the deploy pauses for promote's approval (the
reviewer proven by a one-time code) with the smoke on record, then switches; the quiet
rollback window settles the approval by moving the candidate into production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect.client.schemas.objects import StateType
from sqlalchemy import update

from flows.answers import answer, flow_run_state
from flows.params import DeployLooks, DeployParams, DeploySmoke
from modelops.settings import parse_master_keys
from registry.approvals import ApprovalRepository
from registry.approvers.repository import ApproverRepository
from registry.database import Database
from registry.domain import ApprovalStatus
from registry.endpoints import (
    EndpointRepository,
    Environment,
    NewEndpoint,
    RouteChange,
    WeightedVersion,
    create_endpoint,
    set_routes,
)
from registry.keys.crypto import MasterKeyring
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.rollouts.domain import Verdict
from registry.rollouts.policy import RolloutOverrides
from registry.rollouts.repository import RolloutRepository
from registry.stages import Stage
from registry.tables import ModelRow
from tasks import context as task_context
from tests.fakes.openai_server import FakeOpenAIServer
from tests.flows.conftest import wait_until
from tests.flows.deploy_support import FlowThread, clients, gateway
from tests.flows.test_deploy_blue_green import SMOKE_EXAMPLES, _dataset
from tests.gateway.conftest import Served, trained_local, world
from tests.gateway.support import MASTER_KEY
from tests.registry.seed import advance, promote_with_approval
from tests.support.approvers import code
from tests.support.prefect_server import PrefectServer

__all__ = ["gateway", "trained_local", "world"]

ENDPOINT = "chat-prod"
POLICY = {"production": {"approvers": ["alice", "bob"], "min_approvals": 1, "four_eyes": True}}


def _production_world(served: Served, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """chatbot v1 in production behind chat-prod, v2 in staging; alice and bob enrolled."""
    for name, value in (
        ("DATABASE_URL", served.world.url),
        ("TEAM", "team-a"),
        ("DATA_DIR", str(served.world.data_dir)),
        ("MASTER_KEY", MASTER_KEY),
    ):
        monkeypatch.setenv(f"MODELOPS_{name}", value)  # fmt: skip
    task_context.settings.cache_clear()
    task_context.database.cache_clear()
    team = served.world.team
    database = Database.open(served.world.url)
    try:
        with database.transaction() as session:
            session.execute(
                update(ModelRow).where(ModelRow.name == "chatbot").values(policy=POLICY)
            )
            # The world's development endpoint would keep v1 from being archived.
            only_v2 = [WeightedVersion(version=2, weight=100)]
            set_routes(session, team, RouteChange(endpoint="assistant", routes=only_v2,
                                                  actor="tester", reason="v2 only"))  # fmt: skip
            advance(session, team, 1, Stage.STAGING, model="chatbot")
            promote_with_approval(session, team, 1, model="chatbot")
            advance(session, team, 2, Stage.STAGING, model="chatbot")
            create_endpoint(session, team, NewEndpoint(name=ENDPOINT, model="chatbot",
                            environment=Environment.PRODUCTION, actor="tester"))  # fmt: skip
            ring = MasterKeyring(parse_master_keys(MASTER_KEY))
            approvers = ApproverRepository(session, team, ring)
            return {n: approvers.enroll(n).secret.get_secret_value() for n in ("alice", "bob")}
    finally:
        database.close()


def _paused(served: Served) -> Any:
    database = Database.open(served.world.url)
    try:
        with database.transaction() as session:
            pending = ApprovalRepository(session, served.world.team).all(
                status=ApprovalStatus.PENDING
            )
    finally:
        database.close()
    return next(
        (a for a in pending if a.flow_run_id and flow_run_state(a.flow_run_id) is StateType.PAUSED),
        None,
    )


def test_production_blue_green_asks_its_approvers_after_the_smoke_then_switches(
    gateway: Served, openai_server: FakeOpenAIServer, prefect_api: PrefectServer,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    served = gateway
    secrets = _production_world(served, monkeypatch)
    policy = RolloutOverrides(strategy="blue-green", min_samples=100, rollback_window_seconds=3,
                              max_error_rate_increase=0.02)  # fmt: skip
    run = DeployParams(
        endpoint=ENDPOINT, version=2, actor="ann", policy=policy,
        looks=DeployLooks(every_requests=300, every_seconds=2, poll_seconds=0.1),
        smoke=DeploySmoke(dataset=_dataset(tmp_path), gateway_url=served.url),
    )  # fmt: skip
    with clients(served.url, served.world.token, endpoint=ENDPOINT) as counts:
        wait_until(lambda: counts.get("v1", 0) >= 300, timeout=60, what="v1's traffic")
        flow = FlowThread(run)
        approval = wait_until(lambda: _paused(served), timeout=120, what="the approval")
        database = Database.open(served.world.url)
        try:
            with database.transaction() as session:
                team = served.world.team
                (rollout,) = RolloutRepository(session, team).list()
                looked = RolloutRepository(session, team).measurements(rollout.id)
                routes = EndpointRepository(session, team).get(ENDPOINT).routes
        finally:
            database.close()
        # Asked after the smoke passed, with the candidate still only a preview.
        assert [(m.verdict, m.candidate.requests) for m in looked] == [
            (Verdict.PASS, SMOKE_EXAMPLES)
        ]
        assert [(r.version, r.weight, r.role.value) for r in routes] == [
            (1, 100, "stable"), (2, 0, "preview"),
        ]  # fmt: skip
        assert "v2" not in counts
        answer(approval.flow_run_id, approve=True, reviewer="alice",
               code=code(secrets["alice"]), comment="smoke looks right")  # fmt: skip
        outcome = flow.result()
    assert outcome.status == "succeeded", outcome.outcome
    assert "v2 is now in production, v1 archived" in outcome.outcome
    database = Database.open(served.world.url)
    try:
        with database.transaction() as session:
            models = ModelRepository(session, served.world.team)
            entry = LedgerRepository(session, served.world.team).history(models.row("chatbot"))[-1]
            stored = RolloutRepository(session, served.world.team).get(outcome.rollout_id)
    finally:
        database.close()
    assert (entry.version, entry.to_stage) == (2, Stage.PRODUCTION)
    assert stored.approval_id == approval.id
    assert entry.evidence["strategy"] == "blue-green"

"""End to end: the deploy and undeploy deployments from prefect.yaml, run by a worker: a
canary on a staging endpoint rolled out to 100%, then the endpoint undeployed."""

from __future__ import annotations

from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment

from modelops.abtest_traffic import SyntheticTraffic
from registry.database import make_engine, make_session_factory
from registry.endpoints import EndpointRepository, EndpointStatus, Environment
from registry.rollouts.domain import RolloutStatus
from registry.rollouts.repository import RolloutRepository
from tests.flows.conftest import wait_until
from tests.flows.test_promote_deployment import worker
from tests.registry.test_endpoints_support import create, seed_versions
from tests.support.prefect_server import PrefectServer

__all__ = ["worker"]  # fixture


@pytest.mark.slow
def test_a_worker_runs_the_deployed_deploy_and_undeploy(
    prefect_api: PrefectServer, pg_url: str, worker: None
) -> None:
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_versions(session, "default")
        create(session, team, "support-staging", Environment.STAGING, version=2)
    params = {
        "endpoint": "support-staging", "version": 3, "actor": "ann",
        "policy": {"strategy": "canary", "steps": [50, 100], "bake_seconds": 0,
                   "min_samples": 300, "max_error_rate_increase": 0.02},
        "looks": {"every_requests": 500, "every_seconds": 1, "poll_seconds": 0.2},
    }  # fmt: skip
    run = run_deployment("deploy/deploy", parameters={"params": params}, timeout=0)
    run_id: UUID = run.id  # type: ignore[union-attr]

    def progressing() -> bool:
        with sessions.begin() as session:
            found = RolloutRepository(session, team).list()
        return bool(found) and found[0].status is RolloutStatus.PROGRESSING

    wait_until(progressing, timeout=180, what="the first step")
    SyntheticTraffic(sessions, team, success={2: 0.99, 3: 0.99}, seed=2).send(
        "support-staging", 4000
    )
    wait_until(lambda: _state(run_id) is StateType.COMPLETED, timeout=180, what="completion")
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run_id).name == "deploy-support-staging-v3"
    with sessions.begin() as session:
        (rollout,) = RolloutRepository(session, team).list()
    assert rollout.status is RolloutStatus.SUCCEEDED and rollout.flow_run_id == str(run_id)

    gone = run_deployment(
        "undeploy/undeploy",
        parameters={"params": {"endpoint": "support-staging", "actor": "ann"}},
        timeout=0,
    )
    wait_until(lambda: _state(gone.id) is StateType.COMPLETED, timeout=180, what="undeploy")  # type: ignore[union-attr]
    with sessions.begin() as session:
        endpoint = EndpointRepository(session, team).get("support-staging")
    engine.dispose()
    assert endpoint.status is EndpointStatus.UNDEPLOYED


def _state(run_id: UUID) -> StateType | None:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    return state.type if state else None

"""End to end: the ab-test deployment from prefect.yaml, run by a worker, to its verdict."""

from __future__ import annotations

from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment

from modelops.abtest_traffic import SyntheticTraffic
from modelops.demo_abtest import drive
from registry.abtests import ABTestRepository, ABTestStatus, VerdictKind
from registry.abtests.lifecycle import create_test
from registry.database import make_engine, make_session_factory
from registry.endpoints import Environment
from tests.flows.conftest import wait_until
from tests.flows.test_promote_deployment import worker
from tests.registry.abtest_support import definition
from tests.registry.test_endpoints_support import create, seed_versions
from tests.support.prefect_server import PrefectServer

__all__ = ["worker"]  # fixture


@pytest.mark.slow
def test_a_worker_runs_the_deployed_ab_test_to_its_verdict(
    prefect_api: PrefectServer, pg_url: str, worker: None
) -> None:
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_versions(session, "default")
        create(session, team, "support-staging", Environment.STAGING, version=2)
        test = create_test(session, team, definition(endpoint="support-staging", promote_to=None))
    looks = {"every_requests": 500, "poll_seconds": 0.2}
    run = run_deployment(
        "ab-test/ab-test", parameters={"params": {"test_id": test.id, "looks": looks}}, timeout=0
    )
    run_id: UUID = run.id  # type: ignore[union-attr]

    def read():  # type: ignore[no-untyped-def]
        with sessions.begin() as session:
            return ABTestRepository(session, team).get(test.id)

    wait_until(lambda: read().status is ABTestStatus.RUNNING, timeout=180, what="the start")
    traffic = SyntheticTraffic(sessions, team, success={1: 0.9, 2: 0.9}, drop={2: 0.3}, seed=1)
    ended = drive(traffic, "support-staging", read, 1500, max_batches=5, timeout=120)
    assert ended.verdict is VerdictKind.INVALID_SRM
    wait_until(lambda: _state(run_id) is StateType.COMPLETED, timeout=120, what="completion")
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run_id).name == f"ab-test-{test.id}"
    finished = read()
    engine.dispose()
    assert finished.status is ABTestStatus.FINISHED and finished.flow_run_id == str(run_id)


def _state(run_id: UUID) -> StateType | None:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    return state.type if state else None

"""End to end: deploy from prefect.yaml, a worker runs `promote`, approvals through the API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run

from registry.approvals import ApprovalRepository
from registry.database import make_engine, make_session_factory
from registry.domain import ApprovalStatus
from registry.evaluations import EvaluationRepository
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tests.flows.conftest import wait_until
from tests.flows.test_promote import POLICY, _summary
from tests.registry.seed import add_version, advance, seed_model
from tests.support.approvers import MASTER_KEY, code, enrol
from tests.support.prefect_server import PrefectServer, stop_process

REPO = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]


def _prefect(server: PrefectServer, *args: str) -> str:
    env = {**os.environ, **server.env(), "PREFECT_CLI_PROMPT": "false"}
    done = subprocess.run(
        [*PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def worker(prefect_api: PrefectServer, pg_url: str, tmp_path: Path) -> Iterator[None]:
    """A process worker on pool `modelops`, with the registry settings its flow runs inherit."""
    _prefect(prefect_api, "work-pool", "create", "modelops", "--type", "process", "--overwrite")
    _prefect(prefect_api, "--no-prompt", "deploy", "--all")
    env = {
        **os.environ,
        **prefect_api.env(),
        "MODELOPS_DATABASE_URL": pg_url,
        "MODELOPS_DATA_DIR": str(tmp_path / "data"),
        "MODELOPS_TEAM": "default",
        "MODELOPS_MASTER_KEY": MASTER_KEY,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            [*PREFECT, "worker", "start", "--pool", "modelops", "--limit", "2"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield
    finally:
        stop_process(process)


def _state(run_id: UUID) -> tuple[StateType | None, str | None]:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    if state is None:
        return None, None
    return state.type, str(state.state_details.pause_key) if state.state_details.pause_key else None


@pytest.mark.slow
def test_deployed_promote_pauses_for_four_eyes_then_promotes(
    prefect_api: PrefectServer, pg_url: str, worker: None
) -> None:
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_model(session, "default", policy=POLICY)
        advance(session, team, add_version(session, team), Stage.STAGING)
        row = ModelRepository(session, team).version_row("support-intent", 1)
        EvaluationRepository(session, team).record(
            (row.model_id, row.id, None), _summary(0.9), [], None
        )
        secrets = enrol(session, team, "alice", "bob")

    params = {"model": "support-intent", "version": 1, "requester": "alice", "timeout_seconds": 600}
    run = run_deployment("promote/promote", parameters={"params": params}, timeout=0)
    run_id = run.id  # type: ignore[union-attr]

    first = wait_until(
        lambda: _state(run_id)[0] is StateType.PAUSED and _state(run_id),
        timeout=180,
        what="the run to pause",
    )
    resume_flow_run(
        run_id,
        run_input={
            "decision": "approve", "reviewer": "alice", "code": code(secrets["alice"]),
            "comment": "self",
        },
    )  # fmt: skip
    wait_until(
        lambda: (s := _state(run_id))[0] is StateType.PAUSED and s[1] != first[1],  # type: ignore[index]
        timeout=120, what="the run to pause again after the requester's answer",
    )  # fmt: skip
    resume_flow_run(
        run_id,
        run_input={
            "decision": "approve", "reviewer": "bob", "code": code(secrets["bob"]),
            "comment": "ok",
        },
    )  # fmt: skip
    wait_until(lambda: _state(run_id)[0] is StateType.COMPLETED, timeout=120, what="completion")

    with sessions.begin() as session:
        models = ModelRepository(session, team)
        assert models.version("support-intent", 1).stage is Stage.PRODUCTION
        entry = LedgerRepository(session, team).history(models.row("support-intent"))[-1]
        assert (entry.to_stage, entry.flow_run_id, entry.actor) == (
            Stage.PRODUCTION,
            str(run_id),
            "alice",
        )
        assert entry.evidence["approved_by"] == ["bob"]
        approval = ApprovalRepository(session, team).all()[0]
        assert approval.status is ApprovalStatus.APPROVED
        assert [d.reviewer for d in approval.decisions] == ["bob"]
    engine.dispose()

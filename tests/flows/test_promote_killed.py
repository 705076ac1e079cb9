"""kill -9 of a paused promote run: Prefect still says PAUSED, but nobody will ever resume it.
Answering says so and offers `approvals expire`, which settles it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType

from flows.params import PromoteParams
from registry.approvals import ApprovalRepository
from registry.domain import ApprovalStatus
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tests.flows.conftest import wait_until
from tests.flows.test_promote import _evaluate, _paused_with_key, _pending_approval, staged  # noqa: F401
from tests.support.approvers import code
from tests.support.prefect_server import PrefectServer, stop_process

REPO = Path(__file__).resolve().parents[2]


def _state(run_id: str) -> StateType | None:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(run_id)).state
    return state.type if state else None


@pytest.mark.slow
def test_a_killed_paused_promote_is_reported_dead_and_can_be_expired(
    prefect_api: PrefectServer,
    staged,  # noqa: F811  (the fixture imported above)
    cli,
    tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    sessions, team, secrets = staged
    _evaluate(sessions, team, 0.91)
    params = PromoteParams(
        model="support-intent", version=1, requester="alice", timeout_seconds=600
    )
    with (tmp_path / "promote.log").open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.flows.promote_child", params.model_dump_json()],
            cwd=REPO, env={**os.environ, **prefect_api.env()}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        approval = wait_until(
            lambda: _pending_approval(sessions, team), timeout=120, what="approval"
        )
        run_id = approval.flow_run_id  # type: ignore[attr-defined]
        wait_until(lambda: _paused_with_key(run_id, set()), timeout=60, what="the pause")
        assert approval.runner.pid == child.pid  # type: ignore[attr-defined]
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        stop_process(child)
    assert _state(run_id) is StateType.PAUSED  # Prefect cannot tell the run is gone

    answered = cli(
        "approvals", "approve", str(approval.id), "--reviewer", "bob", stdin=code(secrets["bob"])
    )  # type: ignore[attr-defined]
    assert answered.code == 1, answered.out + answered.err
    assert f"is dead (process {child.pid} on " in answered.err
    assert f"settle it with `modelops approvals expire {approval.id}`" in answered.err  # type: ignore[attr-defined]
    with sessions.begin() as session:
        current = ApprovalRepository(session, team).get(approval.id)  # type: ignore[attr-defined]
    assert (current.status, current.decisions, current.attempts) == (ApprovalStatus.PENDING, [], [])

    expired = cli("approvals", "expire", str(approval.id))  # type: ignore[attr-defined]
    assert expired.code == 0, expired.err
    assert f"approval {approval.id} expired (the promote run waiting for it is dead" in expired.out  # type: ignore[attr-defined]
    assert _state(run_id) is StateType.CANCELLED
    with sessions.begin() as session:
        assert ApprovalRepository(session, team).get(approval.id).status is ApprovalStatus.EXPIRED  # type: ignore[attr-defined]
        assert ModelRepository(session, team).version("support-intent", 1).stage is Stage.STAGING
    again = cli("approvals", "expire", str(approval.id))  # type: ignore[attr-defined]
    assert again.code == 1 and "already expired" in again.err

"""retrain: fine-tune → evaluate → promote, with the approval answered through the Prefect API."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from pathlib import Path

import pytest
from prefect.client.schemas.objects import StateType

from flows.answers import answer, flow_run_state
from flows.params import RegisterModelParams, RetrainParams
from flows.register_model import register_model
from flows.retrain import RetrainOutcome, retrain
from registry.approvals import ApprovalRepository
from registry.domain import Approval, ApprovalStatus
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tasks import context
from tasks.context import unit_of_work
from tests.flows.conftest import wait_until
from tests.support.approvers import MASTER_KEY, code, enrol
from tests.support.prefect_server import PrefectServer

REPO = Path(__file__).resolve().parents[2]


def _paused_approval() -> Approval | None:
    with unit_of_work() as (session, team):
        pending = ApprovalRepository(session, team).all(status=ApprovalStatus.PENDING)
    for approval in pending:
        if approval.flow_run_id and flow_run_state(approval.flow_run_id) is StateType.PAUSED:
            return approval
    return None


@pytest.mark.slow
def test_retrain_promotes_a_better_version_once_an_approver_answers(
    prefect_api: PrefectServer, registry_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELOPS_CATALOG_DIR", str(REPO / "catalog"))
    monkeypatch.setenv("MODELOPS_MASTER_KEY", MASTER_KEY)
    monkeypatch.chdir(REPO)  # the default datasets are paths relative to the repository
    context.settings.cache_clear()
    asyncio.run(register_model(RegisterModelParams(model="support-intent")))
    with unit_of_work() as (session, team):
        secrets = enrol(session, team, "alice")

    box: dict[str, object] = {}
    params = RetrainParams(
        model="support-intent", requester="scheduler", approval_timeout_seconds=300
    )
    runner = threading.Thread(
        target=contextvars.copy_context().run,
        args=(lambda: box.setdefault("result", asyncio.run(retrain(params))),),
    )
    runner.start()
    approval = wait_until(_paused_approval, timeout=300, what="retrain's promotion to pause")
    assert isinstance(approval, Approval)
    assert (approval.version, approval.requester) == (2, "scheduler")
    answer(
        approval.flow_run_id or "",
        approve=True,
        reviewer="alice",
        code=code(secrets["alice"]),
        comment="scheduled retrain ok",
    )
    runner.join(timeout=300)

    outcome = box["result"]
    assert isinstance(outcome, RetrainOutcome)
    assert outcome.promoted and outcome.version == 2 and outcome.accuracy > 0.85
    with unit_of_work() as (session, team):
        models = ModelRepository(session, team)
        assert models.version("support-intent", 2).stage is Stage.PRODUCTION
        assert models.version("support-intent", 2).lineage.parent_version == 1

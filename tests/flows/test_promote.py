"""The promote flow: gates, approval by pause/resume through the Prefect API, CAS move."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Iterator
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run

from flows.params import PromoteParams
from flows.promote import PromoteOutcome, PromotionRefused, promote
from registry.approvals import ApprovalRepository
from registry.database import make_engine, make_session_factory
from registry.domain import ApprovalStatus, Team
from registry.evaluations import EvaluationRepository, EvaluationSummary
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tests.flows.conftest import wait_until
from tests.registry.seed import add_version, advance, seed_model
from tests.support.prefect_server import PrefectServer

POLICY = {
    "production": {
        "approvers": ["alice", "bob"],
        "min_approvals": 1,
        "four_eyes": True,
        "gates": {"min_accuracy": 0.85},
    }
}


def _summary(accuracy: float) -> EvaluationSummary:
    return EvaluationSummary(
        dataset_name="eval", dataset_uri="file:eval.jsonl", dataset_sha256="0" * 64,
        examples=500, correct=int(accuracy * 500), accuracy=accuracy,
        accuracy_low=accuracy - 0.03, accuracy_high=accuracy + 0.03,
        latency_p50_ms=1.0, latency_p95_ms=2.0, input_tokens=10, output_tokens=5, cost=0.0,
        errors=0, champion_version=None, comparison={}, gates={}, passed=True,
    )  # fmt: skip


@pytest.fixture
def staged(registry_env: str) -> Iterator[tuple[object, Team]]:
    engine = make_engine(registry_env)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_model(session, "default", policy=POLICY)
        version = add_version(session, team)
        advance(session, team, version, Stage.STAGING)
    yield sessions, team
    engine.dispose()


def _evaluate(sessions, team: Team, accuracy: float) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        row = ModelRepository(session, team).version_row("support-intent", 1)
        EvaluationRepository(session, team).record(
            (row.model_id, row.id, None), _summary(accuracy), [], None
        )


def _pending_approval(sessions, team: Team):  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        pending = ApprovalRepository(session, team).all(status=ApprovalStatus.PENDING)
        return pending[0] if pending and pending[0].flow_run_id else None


def _paused_with_key(run_id: str, seen: set[str]) -> str | None:
    """The run's current pause key when it is paused on a pause we have not answered yet."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(run_id))
    state = run.state
    if state is None or state.type is not StateType.PAUSED:
        return None
    key = str(state.state_details.pause_key)
    return key if key not in seen else None


def test_four_eyes_repauses_then_a_listed_approver_promotes(
    prefect_api: PrefectServer, staged
) -> None:  # type: ignore[no-untyped-def]
    sessions, team = staged
    _evaluate(sessions, team, 0.91)
    outcome: dict[str, object] = {}
    params = PromoteParams(
        model="support-intent", version=1, requester="alice", timeout_seconds=300
    )
    # Run in a copy of this context: it carries the Prefect settings that point at the test server.
    context = contextvars.copy_context()
    runner = threading.Thread(
        target=context.run,
        args=(lambda: outcome.setdefault("result", asyncio.run(promote(params))),),
    )
    runner.start()

    approval = wait_until(lambda: _pending_approval(sessions, team), what="an approval")
    run_id = approval.flow_run_id  # type: ignore[attr-defined]
    seen: set[str] = set()
    seen.add(wait_until(lambda: _paused_with_key(run_id, seen), what="the first pause"))  # type: ignore[arg-type]
    resume_flow_run(
        run_id, run_input={"decision": "approve", "reviewer": "alice", "comment": "mine"}
    )
    # Four eyes: the requester's answer is refused and the run pauses again.
    seen.add(wait_until(lambda: _paused_with_key(run_id, seen), what="a second pause"))  # type: ignore[arg-type]
    with sessions.begin() as session:
        assert ApprovalRepository(session, team).get(approval.id).status is ApprovalStatus.PENDING  # type: ignore[attr-defined]
    resume_flow_run(
        run_id, run_input={"decision": "approve", "reviewer": "bob", "comment": "looks good"}
    )
    runner.join(timeout=120)

    result = outcome["result"]
    assert isinstance(result, PromoteOutcome)
    assert (result.stage, result.approved_by) == ("production", ["bob"])
    with sessions.begin() as session:
        assert ModelRepository(session, team).version("support-intent", 1).stage is Stage.PRODUCTION
        model = ModelRepository(session, team).row("support-intent")
        entry = LedgerRepository(session, team).history(model)[-1]
        assert (entry.to_stage, entry.flow_run_id) == (Stage.PRODUCTION, run_id)
        assert entry.evidence["approved_by"] == ["bob"]
        assert ApprovalRepository(session, team).get(approval.id).status is ApprovalStatus.APPROVED  # type: ignore[attr-defined]


def test_failing_gates_refuse_before_any_approval_is_opened(
    prefect_api: PrefectServer, staged
) -> None:  # type: ignore[no-untyped-def]
    sessions, team = staged
    _evaluate(sessions, team, 0.70)
    params = PromoteParams(model="support-intent", version=1, requester="carol")
    with pytest.raises(PromotionRefused, match=r"accuracy 0\.700 is below min_accuracy 0\.85"):
        asyncio.run(promote(params))
    with sessions.begin() as session:
        assert ApprovalRepository(session, team).all() == []
        assert ModelRepository(session, team).version("support-intent", 1).stage is Stage.STAGING


def _start_promote(params: PromoteParams, outcome: dict[str, object]) -> threading.Thread:
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome["result"] = asyncio.run(promote(params))
        except Exception as exc:  # handed to the test thread
            outcome["result"] = exc

    runner = threading.Thread(target=context.run, args=(run,))
    runner.start()
    return runner


def test_nobody_answering_expires_the_approval_and_changes_nothing(
    prefect_api: PrefectServer, staged
) -> None:  # type: ignore[no-untyped-def]
    sessions, team = staged
    _evaluate(sessions, team, 0.91)
    outcome: dict[str, object] = {}
    params = PromoteParams(model="support-intent", version=1, requester="alice", timeout_seconds=10)
    _start_promote(params, outcome).join(timeout=120)

    assert isinstance(outcome["result"], PromotionRefused)
    assert "expired: nobody answered within 10s; nothing changed" in str(outcome["result"])
    with sessions.begin() as session:
        (approval,) = ApprovalRepository(session, team).all()
        assert approval.status is ApprovalStatus.EXPIRED
        assert ModelRepository(session, team).version("support-intent", 1).stage is Stage.STAGING


def test_approvals_cli_answers_the_paused_run_like_the_ui_form(
    prefect_api: PrefectServer, staged, cli, registry_env: str
) -> None:  # type: ignore[no-untyped-def]
    sessions, team = staged
    _evaluate(sessions, team, 0.91)
    outcome: dict[str, object] = {}
    params = PromoteParams(
        model="support-intent", version=1, requester="alice", timeout_seconds=300
    )
    runner = _start_promote(params, outcome)
    approval = wait_until(lambda: _pending_approval(sessions, team), what="an approval")
    wait_until(lambda: _paused_with_key(approval.flow_run_id, set()), what="the pause")  # type: ignore[attr-defined]

    listed = cli("approvals", "list", "--json", env={"MODELOPS_DATABASE_URL": registry_env})
    assert [(a["id"], a["status"]) for a in json.loads(listed.out)] == [(approval.id, "pending")]  # type: ignore[attr-defined]
    own = cli("approvals", "approve", str(approval.id), "--reviewer", "alice")  # type: ignore[attr-defined]
    assert own.code == 2 and "four-eyes policy" in own.err
    answered = cli(
        "approvals", "approve", str(approval.id), "--reviewer", "bob", "--comment", "lgtm"
    )  # type: ignore[attr-defined]
    runner.join(timeout=120)

    assert answered.code == 0, answered.err
    assert f"approval {approval.id} is approved" in answered.out  # type: ignore[attr-defined]
    assert isinstance(outcome["result"], PromoteOutcome)
    with sessions.begin() as session:
        assert ModelRepository(session, team).version("support-intent", 1).stage is Stage.PRODUCTION

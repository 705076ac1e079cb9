"""The promote flow: gates, proven approval by pause/resume through the Prefect API, CAS move,
refused answers kept, the decision artifact."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run

from flows.params import PromoteParams
from flows.promote import PromoteOutcome, PromotionRefused, promote
from flows.review_form import review_markdown
from registry.approvals import ApprovalRepository
from registry.database import make_engine, make_session_factory
from registry.domain import ApprovalStatus, Team
from registry.evaluations import EvaluationRepository, EvaluationSummary
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tasks import context as task_context
from tasks.promotion import gather_evidence, open_approval
from tasks.promotion_report import markdown_cell
from tests.flows.conftest import wait_until
from tests.registry.seed import add_version, advance, seed_model
from tests.support.approvers import MASTER_KEY, code, enrol
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
def staged(
    registry_env: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[object, Team, dict[str, str]]]:
    """support-intent v1 in staging; alice and bob enrolled (their app secrets returned)."""
    monkeypatch.setenv("MODELOPS_MASTER_KEY", MASTER_KEY)
    task_context.settings.cache_clear()
    engine = make_engine(registry_env)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_model(session, "default", policy=POLICY)
        version = add_version(session, team)
        advance(session, team, version, Stage.STAGING)
        secrets = enrol(session, team, "alice", "bob")
    yield sessions, team, secrets
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


def _approval(sessions, team: Team, approval_id: int):  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        return ApprovalRepository(session, team).get(approval_id)


def _paused_with_key(run_id: str, seen: set[str]) -> str | None:
    """The run's current pause key when it is paused on a pause we have not answered yet."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(run_id))
    state = run.state
    if state is None or state.type is not StateType.PAUSED:
        return None
    key = str(state.state_details.pause_key)
    return key if key not in seen else None


def _run_name_and_artifacts(run_id: str) -> tuple[str, dict[str, str]]:
    with get_client(sync_client=True) as client:
        name = client.read_flow_run(UUID(run_id)).name
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(run_id)]))
        )
    return name, {str(a.key): str(a.data) for a in artifacts}


def _start_promote(params: PromoteParams, outcome: dict[str, object]) -> threading.Thread:
    # Run in a copy of this context: it carries the Prefect settings that point at the test server.
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome["result"] = asyncio.run(promote(params))
        except Exception as exc:  # handed to the test thread
            outcome["result"] = exc

    runner = threading.Thread(target=context.run, args=(run,))
    runner.start()
    return runner


def test_refused_answers_repause_then_a_proven_approver_promotes(
    prefect_api: PrefectServer, staged
) -> None:  # type: ignore[no-untyped-def]
    sessions, team, secrets = staged
    _evaluate(sessions, team, 0.91)
    outcome: dict[str, object] = {}
    params = PromoteParams(
        model="support-intent", version=1, requester="alice", timeout_seconds=300
    )
    runner = _start_promote(params, outcome)

    approval = wait_until(lambda: _pending_approval(sessions, team), what="an approval")
    run_id = approval.flow_run_id  # type: ignore[attr-defined]
    seen: set[str] = set()
    seen.add(wait_until(lambda: _paused_with_key(run_id, seen), what="the first pause"))  # type: ignore[arg-type]
    # Four eyes: the requester's answer, properly proven, is refused and the run pauses again.
    alice_code = code(secrets["alice"])
    resume_flow_run(
        run_id,
        run_input={
            "decision": "approve",
            "reviewer": "alice",
            "code": alice_code,
            "comment": "mine",
        },
    )
    seen.add(wait_until(lambda: _paused_with_key(run_id, seen), what="a second pause"))  # type: ignore[arg-type]
    # Bob's name with alice's code: not bob.
    resume_flow_run(
        run_id, run_input={"decision": "approve", "reviewer": "bob", "code": alice_code}
    )
    seen.add(wait_until(lambda: _paused_with_key(run_id, seen), what="a third pause"))  # type: ignore[arg-type]
    assert _approval(sessions, team, approval.id).status is ApprovalStatus.PENDING  # type: ignore[attr-defined]
    resume_flow_run(
        run_id,
        run_input={
            "decision": "approve", "reviewer": "bob", "code": code(secrets["bob"]),
            "comment": "looks good",
        },
    )  # fmt: skip
    runner.join(timeout=120)

    result = outcome["result"]
    assert isinstance(result, PromoteOutcome), result
    assert (result.stage, result.approved_by) == ("production", ["bob"])
    settled = _approval(sessions, team, approval.id)  # type: ignore[attr-defined]
    assert settled.status is ApprovalStatus.APPROVED
    assert [(a.reviewer, a.reason) for a in settled.attempts] == [
        ("alice", "four-eyes policy: 'alice' requested this promotion and cannot approve it"),
        ("bob", "wrong or out-of-date code for 'bob'"),
    ]
    with sessions.begin() as session:
        assert ModelRepository(session, team).version("support-intent", 1).stage is Stage.PRODUCTION
        model = ModelRepository(session, team).row("support-intent")
        entry = LedgerRepository(session, team).history(model)[-1]
    assert (entry.to_stage, entry.flow_run_id) == (Stage.PRODUCTION, run_id)
    assert entry.evidence["approved_by"] == ["bob"]
    assert [(d["reviewer"], d["comment"]) for d in entry.evidence["decisions"]] == [  # type: ignore[index, union-attr]
        ("bob", "looks good")
    ]
    name, artifacts = _run_name_and_artifacts(run_id)
    assert name == "promote-support-intent-v1"
    report = artifacts["promote-support-intent-v1"]
    assert report.startswith("# Promote support-intent v1 to production: approved")
    assert "| bob | approved |" in report and "looks good" in report
    assert "four-eyes policy" in report and "wrong or out-of-date code" in report
    assert alice_code not in report and secrets["bob"] not in report


def test_failing_gates_refuse_before_any_approval_is_opened(
    prefect_api: PrefectServer, staged
) -> None:  # type: ignore[no-untyped-def]
    sessions, team, _ = staged
    _evaluate(sessions, team, 0.70)
    params = PromoteParams(model="support-intent", version=1, requester="carol")
    with pytest.raises(
        PromotionRefused,
        match=r"accuracy 0\.700 \(95% CI 0\.670-0\.730\) is below min_accuracy 0\.85",
    ):
        asyncio.run(promote(params))
    with sessions.begin() as session:
        assert ApprovalRepository(session, team).all() == []
        assert ModelRepository(session, team).version("support-intent", 1).stage is Stage.STAGING


def test_nobody_answering_expires_the_approval_at_its_recorded_deadline(
    prefect_api: PrefectServer, staged
) -> None:  # type: ignore[no-untyped-def]
    sessions, team, _ = staged
    _evaluate(sessions, team, 0.91)
    outcome: dict[str, object] = {}
    params = PromoteParams(model="support-intent", version=1, requester="alice", timeout_seconds=2)
    runner = _start_promote(params, outcome)
    opened = wait_until(lambda: _pending_approval(sessions, team), what="an approval")
    assert opened.expires_at - opened.created_at == timedelta(seconds=2)  # type: ignore[attr-defined]
    wait_until(lambda: "result" in outcome, what="the run to give up")
    runner.join(timeout=60)

    assert isinstance(outcome["result"], PromotionRefused)
    assert "expired: nobody answered within 2s; nothing changed" in str(outcome["result"])
    with sessions.begin() as session:
        (approval,) = ApprovalRepository(session, team).all()
        assert approval.status is ApprovalStatus.EXPIRED
        assert ModelRepository(session, team).version("support-intent", 1).stage is Stage.STAGING
    _, artifacts = _run_name_and_artifacts(approval.flow_run_id or "")
    assert artifacts["promote-support-intent-v1"].startswith(
        "# Promote support-intent v1 to production: expired"
    )


def test_approvals_cli_answers_the_paused_run_like_the_ui_form(
    prefect_api: PrefectServer, staged, cli, registry_env: str
) -> None:  # type: ignore[no-untyped-def]
    sessions, team, secrets = staged
    _evaluate(sessions, team, 0.91)
    outcome: dict[str, object] = {}
    params = PromoteParams(
        model="support-intent", version=1, requester="alice", timeout_seconds=300
    )
    runner = _start_promote(params, outcome)
    approval = wait_until(lambda: _pending_approval(sessions, team), what="an approval")
    approval_id = str(approval.id)  # type: ignore[attr-defined]
    wait_until(lambda: _paused_with_key(approval.flow_run_id, set()), what="the pause")  # type: ignore[attr-defined]

    listed = cli("approvals", "list", "--json")
    assert [(a["id"], a["status"]) for a in json.loads(listed.out)] == [(approval.id, "pending")]  # type: ignore[attr-defined]
    alive = cli("approvals", "expire", approval_id)
    assert alive.code == 1 and "still awaited by a live promote run" in alive.err
    no_code = cli("approvals", "approve", approval_id, "--reviewer", "bob", stdin="bob\n")
    assert no_code.code == 2 and "code: expected the six digits" in no_code.err
    own = cli(
        "approvals", "approve", approval_id, "--reviewer", "alice", stdin=code(secrets["alice"])
    )
    assert own.code == 2 and "answer refused: four-eyes policy" in own.err, own.err
    wait_until(lambda: _paused_with_key(approval.flow_run_id, set()), what="the pause again")  # type: ignore[attr-defined]
    answered = cli(
        "approvals", "approve", approval_id, "--reviewer", "bob", "--comment", "lgtm",
        stdin=code(secrets["bob"]) + "\n",
    )  # fmt: skip
    runner.join(timeout=120)

    assert answered.code == 0, answered.err
    assert f"approval {approval_id} is approved" in answered.out
    assert isinstance(outcome["result"], PromoteOutcome)
    history = cli("models", "history", "support-intent")
    rows = [
        [cell.strip() for cell in line.split("│")]
        for line in history.out.splitlines()
        if line.count("│") == 8
    ]
    (moved,) = [row for row in rows if row[5] == "production"]
    assert (moved[6], moved[7]) == ("alice", "bob")  # requester (actor), then "approved by"
    shown = cli("approvals", "show", approval_id)
    assert "alice" in shown.out and "four-eyes policy" in shown.out


# --- Gates: promote judges every gate of the target stage with the evaluate flow's judge.

ALL_GATES = {
    "min_accuracy": 0.85,
    "not_worse_than_champion": True,
    "max_p95_latency_ms": 100,
    "max_error_rate": 0.02,
}


def _seed(registry_env: str, policy: dict[str, object], stages: list[Stage]):  # type: ignore[no-untyped-def]
    """A model with `policy` and one version per entry of `stages`, walked up to it."""
    engine = make_engine(registry_env)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = seed_model(session, "default", policy=policy)  # type: ignore[arg-type]
        for stage in stages:
            advance(session, team, add_version(session, team), stage)
    return engine, sessions, team


def _record(sessions, team: Team, version: int, summary: EvaluationSummary) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        models = ModelRepository(session, team)
        row = models.version_row("support-intent", version)
        champion = summary.champion_version
        champion_id = models.version_row("support-intent", champion).id if champion else None
        EvaluationRepository(session, team).record(
            (row.model_id, row.id, champion_id), summary, [], None
        )


def test_a_version_slower_than_the_latency_gate_is_refused_by_promote(
    prefect_api: PrefectServer, registry_env: str
) -> None:
    engine, sessions, team = _seed(
        registry_env, {"production": {"gates": {"max_p95_latency_ms": 100}}}, [Stage.STAGING]
    )
    _record(sessions, team, 1, _summary(0.95).model_copy(update={"latency_p95_ms": 5000.0}))
    params = PromoteParams(model="support-intent", version=1, requester="carol")

    with pytest.raises(PromotionRefused) as refused:
        asyncio.run(promote(params))

    assert str(refused.value) == (
        "gates for production failed: p95 latency 5000.0 ms is above max_p95_latency_ms 100"
    )
    with sessions.begin() as session:
        assert ApprovalRepository(session, team).all() == []
        assert ModelRepository(session, team).version("support-intent", 1).stage is Stage.STAGING
    engine.dispose()


def test_the_ledger_keeps_every_gate_verdict_of_a_promotion(
    prefect_api: PrefectServer, registry_env: str
) -> None:
    engine, sessions, team = _seed(
        registry_env, {"production": {"gates": ALL_GATES}}, [Stage.STAGING]
    )
    _record(sessions, team, 1, _summary(0.90).model_copy(update={"errors": 5}))

    outcome = asyncio.run(promote(PromoteParams(model="support-intent", version=1, requester="c")))

    assert outcome.stage == "production"
    with sessions.begin() as session:
        model = ModelRepository(session, team).row("support-intent")
        gates = LedgerRepository(session, team).history(model)[-1].evidence["gates"]
    assert gates == {
        "min_accuracy": {
            "passed": True, "threshold": 0.85, "observed": 0.9,
            "reason": "accuracy 0.900 (95% CI 0.870-0.930) is at least min_accuracy 0.85",
        },
        "not_worse_than_champion": {
            "passed": True, "threshold": True, "observed": None,
            "reason": "no champion in production to compare with",
        },
        "max_p95_latency_ms": {
            "passed": True, "threshold": 100.0, "observed": 2.0,
            "reason": "p95 latency 2.0 ms is within max_p95_latency_ms 100",
        },
        "max_error_rate": {
            "passed": True, "threshold": 0.02, "observed": 0.01,
            "reason": "error rate 0.010 (5 of 500) is within max_error_rate 0.02",
        },
    }  # fmt: skip
    engine.dispose()


def _compared_with_v1(b: int, c: int) -> EvaluationSummary:
    comparison = {
        "champion_version": 1, "pairs": 500, "candidate_accuracy": 0.9, "champion_accuracy": 0.912,
        "b": b, "c": c, "test": "exact", "p_value": 0.11, "p_value_worse": 0.055,
        "worse_than_champion": False, "summary": f"McNemar p=0.11 (b={b}, c={c})", "alpha": 0.05,
    }  # fmt: skip
    return _summary(0.90).model_copy(update={"champion_version": 1, "comparison": comparison})


@pytest.mark.parametrize(
    ("champion_test", "promoted"), [("exact", True), ("mid-p", False)], ids=["exact", "mid-p"]
)
def test_promote_applies_the_policys_champion_test_to_the_stored_pairs(
    prefect_api: PrefectServer, registry_env: str, champion_test: str, promoted: bool
) -> None:
    # b = 8, c = 2: one-sided exact p = 56/1024 = 0.055 passes, mid-p = 33.5/1024 = 0.033 fails.
    gates = {"not_worse_than_champion": True, "champion_test": champion_test}
    engine, sessions, team = _seed(
        registry_env, {"production": {"gates": gates}}, [Stage.PRODUCTION, Stage.STAGING]
    )
    _record(sessions, team, 2, _compared_with_v1(8, 2))
    params = PromoteParams(model="support-intent", version=2, requester="carol")

    if promoted:
        assert asyncio.run(promote(params)).replaced == 1
    else:
        with pytest.raises(
            PromotionRefused, match=r"one-sided mid-p McNemar p=0\.033, alpha 0\.05"
        ):
            asyncio.run(promote(params))
    with sessions.begin() as session:
        stage = ModelRepository(session, team).version("support-intent", 2).stage
    assert stage is (Stage.PRODUCTION if promoted else Stage.STAGING)
    engine.dispose()


def test_an_evaluation_made_before_the_current_champion_is_refused(
    prefect_api: PrefectServer, registry_env: str
) -> None:
    gates = {"not_worse_than_champion": True}
    engine, sessions, team = _seed(
        registry_env, {"production": {"gates": gates}}, [Stage.PRODUCTION, Stage.STAGING]
    )
    _record(sessions, team, 2, _summary(0.99))  # evaluated while nothing was in production
    params = PromoteParams(model="support-intent", version=2, requester="carol")

    with pytest.raises(PromotionRefused, match="compared with no champion but production is v1"):
        asyncio.run(promote(params))
    engine.dispose()


def test_the_approval_form_shows_every_gate_verdict(registry_env: str) -> None:
    policy = {"production": {"approvers": ["alice"], "gates": ALL_GATES}}
    engine, sessions, team = _seed(registry_env, policy, [Stage.STAGING])
    _record(sessions, team, 1, _summary(0.90).model_copy(update={"latency_p95_ms": 5000.0}))

    evidence = gather_evidence.fn("support-intent", 1, Stage.PRODUCTION)
    form = review_markdown(evidence, open_approval.fn(evidence, "carol", None, 300))

    assert [(v.gate, v.passed) for v in evidence.gates] == [
        ("min_accuracy", True),
        ("not_worse_than_champion", True),
        ("max_p95_latency_ms", False),
        ("max_error_rate", True),
    ]
    # The form escapes markdown (max_p95 would turn italic), so compare with the escaped text.
    for verdict in evidence.gates:
        assert markdown_cell(verdict.gate) in form and markdown_cell(verdict.reason) in form
    assert markdown_cell("FAIL: p95 latency 5000.0 ms is above max_p95_latency_ms 100") in form
    engine.dispose()

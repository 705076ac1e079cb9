"""The ab-test flow against a real Prefect server and PostgreSQL, fed by synthetic clients that
route through the endpoint's own sticky route table (the gateway's stand-in): an A/A test
declares no winner, a planted 3-point difference makes b win (promoted with a proven
approval and rolled onto the endpoint), a planted sample-ratio mismatch is invalid, and
every number in the artifacts is the look's, as `analysis` computes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from analysis import ProportionStats, sequential_proportions
from flows.answers import answer, flow_run_state
from flows.params import ABTestParams, LookCadence
from modelops.abtest_traffic import SyntheticTraffic
from modelops.demo_abtest import FlowInThread, drive
from registry.abtests import (
    ABTest,
    ABTestDefinition,
    ABTestRepository,
    ABTestStatus,
    VerdictKind,
)
from registry.abtests.domain import ProportionData
from registry.approvals import ApprovalRepository
from registry.database import make_engine, make_session_factory
from registry.domain import ApprovalStatus, LedgerAction, Team
from registry.endpoints import EndpointRepository, Environment
from registry.endpoints.tables import EndpointRow
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tasks import context as task_context
from tasks.abtest_markdown import metric_row
from tests.flows.conftest import wait_until
from tests.registry.seed import add_version, advance, promote_with_approval, seed_model
from tests.registry.test_endpoints_support import create
from tests.support.approvers import MASTER_KEY, code, enrol
from tests.support.prefect_server import PrefectServer

POLICY = {"production": {"approvers": ["alice", "bob"], "min_approvals": 1, "four_eyes": True}}
ENDPOINT = "support-prod"
FIXED_SALT = "5a" * 16  # every run splits the same keys the same way


class Setup:
    def __init__(self, sessions: sessionmaker[Session], team: Team, secrets: dict[str, str]):
        self.sessions, self.team, self.secrets = sessions, team, secrets

    def read(self, test_id: int) -> ABTest:
        with self.sessions.begin() as session:
            return ABTestRepository(session, self.team).get(test_id)


@pytest.fixture
def setup(registry_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    """Team default: support-intent v1 in production (approvers alice, bob; four eyes), v2 in
    staging; support-prod serves v1."""
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
        session.execute(update(EndpointRow).values(routing_salt=FIXED_SALT))
        secrets = enrol(session, team, "alice", "bob")
    yield Setup(sessions, team, secrets)
    engine.dispose()


def _definition(**overrides: Any) -> ABTestDefinition:
    values: dict[str, Any] = {
        "endpoint": ENDPOINT,
        "variants": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}],
        "primary": {"metric": "success_rate", "mde": 0.03},
        "actor": "ann",
        **overrides,
    }
    return ABTestDefinition.model_validate(values)


def _run(
    setup: Setup, definition: ABTestDefinition, traffic: SyntheticTraffic, batch: int
) -> tuple[FlowInThread, ABTest]:
    cadence = LookCadence(every_requests=batch // 2, every_seconds=300, poll_seconds=0.05)
    flow = FlowInThread(ABTestParams(definition=definition, looks=cadence))
    test_id = wait_until(lambda: _first_test(setup), what="the flow to plan the test")
    test = drive(traffic, ENDPOINT, lambda: setup.read(test_id), batch, max_batches=60)  # type: ignore[arg-type]
    return flow, test


def _first_test(setup: Setup) -> int | None:
    with setup.sessions.begin() as session:
        found = ABTestRepository(session, setup.team).list()
    return found[0].id if found else None


def _traffic(setup: Setup, seed: int, **kw: Any) -> SyntheticTraffic:
    return SyntheticTraffic(setup.sessions, setup.team, seed=seed, **kw)


def _endpoint_and_ledger(setup: Setup) -> tuple[Any, list[Any], dict[int, Stage]]:
    with setup.sessions.begin() as session:
        endpoint = EndpointRepository(session, setup.team).get(ENDPOINT)
        models = ModelRepository(session, setup.team)
        entries = LedgerRepository(session, setup.team).history(models.row("support-intent"))
        stages = {v.version: v.stage for v in models.versions("support-intent")}
    return endpoint, [e for e in entries if e.action is LedgerAction.AB_TEST], stages


def test_an_a_a_test_declares_no_winner(prefect_api: PrefectServer, setup: Setup) -> None:
    traffic = _traffic(setup, 1, success={1: 0.9, 2: 0.9})
    flow, concluded = _run(
        setup, _definition(primary={"metric": "success_rate", "mde": 0.05}), traffic, 400
    )
    outcome = flow.wait()
    assert concluded.verdict not in (VerdictKind.A_WINS, VerdictKind.B_WINS)
    assert outcome.verdict == VerdictKind.NO_DIFFERENCE.value
    endpoint, evidence, stages = _endpoint_and_ledger(setup)
    assert outcome.status == ABTestStatus.FINISHED.value
    assert [(r.version, r.weight, r.role.value) for r in endpoint.routes] == [(1, 100, "stable")]
    assert endpoint.owner is None and stages[2] is Stage.STAGING
    assert [(e.version, e.evidence["verdict"]) for e in evidence] == [
        (1, "no difference within MDE"),
        (2, "no difference within MDE"),
    ]


def test_a_planted_three_point_difference_makes_b_win_and_roll_on_with_its_approval(
    prefect_api: PrefectServer, setup: Setup
) -> None:
    traffic = _traffic(setup, 2, success={1: 0.90, 2: 0.93})
    flow, concluded = _run(setup, _definition(), traffic, 500)
    assert concluded.verdict is VerdictKind.B_WINS, concluded.verdict_reason
    approval = wait_until(lambda: _paused_approval(setup), timeout=120, what="the promotion")
    answer(
        approval.flow_run_id, approve=True, reviewer="alice",
        code=code(setup.secrets["alice"]), comment="the A/B test says so",
    )  # fmt: skip
    outcome = flow.wait()
    assert outcome.verdict == "b wins" and outcome.status == "finished"
    assert "v2 promoted to production (approved by alice), serves 100%" in outcome.action
    endpoint, evidence, stages = _endpoint_and_ledger(setup)
    assert [(r.version, r.weight, r.role.value) for r in endpoint.routes] == [(2, 100, "stable")]
    assert endpoint.owner is None
    assert (stages[1], stages[2]) == (Stage.ARCHIVED, Stage.PRODUCTION)
    assert {e.version: e.evidence["verdict"] for e in evidence} == {1: "b wins", 2: "b wins"}
    _check_artifacts(setup, concluded.id)


def _paused_approval(setup: Setup) -> Any:
    with setup.sessions.begin() as session:
        pending = ApprovalRepository(session, setup.team).all(status=ApprovalStatus.PENDING)
    for approval in pending:
        if approval.flow_run_id and flow_run_state(approval.flow_run_id).value == "PAUSED":  # type: ignore[union-attr]
            return approval
    return None


def _check_artifacts(setup: Setup, test_id: int) -> None:
    """The look history table holds each look's numbers exactly; the primary metric's are
    `analysis` on the look's counts; the markdown shows each stored number."""
    test = setup.read(test_id)
    with setup.sessions.begin() as session:
        looks = ABTestRepository(session, setup.team).looks(test_id)
    artifacts = _artifacts(test.flow_run_id or "")
    assert {f"ab-test-{test_id}-{k}" for k in ("plan", "look", "looks", "verdict")} <= set(
        artifacts
    )
    table = json.loads(artifacts[f"ab-test-{test_id}-looks"][-1])
    assert len(table) == len(looks)
    for row, look in zip(table, looks, strict=True):
        a, b = look.a.metrics["success_rate"], look.b.metrics["success_rate"]
        assert isinstance(a, ProportionData) and isinstance(b, ProportionData)
        expected = sequential_proportions(
            ProportionStats(a.n, a.successes), ProportionStats(b.n, b.successes),
            alpha=0.05, n_star=test.plan.n_star,
        )  # fmt: skip
        got = (row["success_rate_diff"], row["success_rate_low"], row["success_rate_high"])
        assert got == (expected.estimate, *expected.ci)
        assert row["success_rate_p"] == expected.p_value
        assert (row["requests_a"], row["requests_b"]) == (look.a.requests, look.b.requests)
    looks_markdown = artifacts[f"ab-test-{test_id}-look"]
    for look, markdown in zip(looks, looks_markdown, strict=True):
        for metric in look.result.metrics:
            cells = [c for c in metric_row(metric)[:9]]
            assert all(_escaped(c) in markdown for c in cells), (cells, markdown)
    assert "### Verdict: b wins" in looks_markdown[-1]
    assert "**Verdict**: b wins" in artifacts[f"ab-test-{test_id}-verdict"][-1]


def _escaped(cell: str) -> str:
    from tasks.promotion_report import markdown_cell

    return markdown_cell(cell)


def _artifacts(flow_run_id: str) -> dict[str, list[str]]:
    """Every version of each artifact of the run, oldest first."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)])
            )
        )
    by_key: dict[str, list[tuple[Any, str]]] = {}
    for artifact in found:
        data = artifact.data if isinstance(artifact.data, str) else json.dumps(artifact.data)
        by_key.setdefault(str(artifact.key), []).append((artifact.created, data))
    return {key: [d for _, d in sorted(versions)] for key, versions in by_key.items()}


def test_a_planted_sample_ratio_mismatch_stops_the_test_as_invalid(
    prefect_api: PrefectServer, setup: Setup
) -> None:
    traffic = _traffic(setup, 3, success={1: 0.9, 2: 0.95}, drop={2: 0.2})
    flow, concluded = _run(setup, _definition(), traffic, 2000)
    outcome = flow.wait()
    assert concluded.verdict is VerdictKind.INVALID_SRM and outcome.verdict == "invalid: SRM"
    assert "sample ratio mismatch" in outcome.reason and "no winner is declared" in outcome.reason
    endpoint, evidence, stages = _endpoint_and_ledger(setup)
    assert [(r.version, r.weight) for r in endpoint.routes] == [(1, 100)]
    assert endpoint.owner is None and stages[2] is Stage.STAGING
    assert all(e.evidence["verdict"] == "invalid: SRM" for e in evidence)

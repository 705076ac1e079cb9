"""Blue-green on synthetic traffic routed by the endpoint's real route table: the preview
gets no user traffic, a failed smoke never switches, a failure inside the rollback window
switches back at once, a quiet window ends in production; refusals change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from registry.domain import Team
from registry.endpoints import EndpointRepository, route_table
from registry.errors import InvalidInputError, InvalidTransitionError
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.outcomes.tables import OutcomeRow
from registry.rollouts.blue_green import SmokeAnswer, SmokeResult, record_smoke, switch
from registry.rollouts.domain import DecisionKind, RolloutStatus, Verdict
from registry.rollouts.lifecycle import create_rollout
from registry.rollouts.repository import RolloutRepository
from registry.rollouts.steps import take_look
from registry.routing import RouteRole
from registry.stages import Stage
from registry.tables import ModelRow, ModelVersionRow
from tests.registry.abtest_support import Clock, traffic
from tests.registry.rollout_support import (
    ENDPOINT,
    drive,
    ledger_weights,
    request,
    sessions,
    started,
    team,
)

__all__ = ["sessions", "team"]

BLUE_GREEN = {"strategy": "blue-green", "steps": None, "min_samples": 300,
              "rollback_window_seconds": 600}  # fmt: skip


def _routes(sessions: sessionmaker[Session], team: Team) -> list[tuple[int, int, str]]:
    with sessions.begin() as session:
        routes = EndpointRepository(session, team).get(ENDPOINT).routes
    return [(r.version, r.weight, r.role.value) for r in routes]


def _stage(sessions: sessionmaker[Session], team: Team, version: int) -> Stage:
    with sessions.begin() as session:
        return ModelRepository(session, team).version("support-intent", version).stage


def _smoke(errors: int = 0, *, n: int = 40, correct: int | None = None) -> SmokeResult:
    right = n if correct is None else correct
    answers = [
        SmokeAnswer(
            latency_ms=120.0 + i, error="server_error" if i < errors else None, correct=i < right
        )
        for i in range(n)
    ]
    return SmokeResult(dataset="smoke.jsonl (40 examples)", answers=answers, min_accuracy=0.8)


def _previewed(sessions: sessionmaker[Session], team: Team, clock: Clock) -> int:
    """v1's hour before (the baseline after the switch), then v2 previewed."""
    history = traffic(sessions, team, clock, success={1: 0.99, 2: 0.99}, seed=11)
    history.send(ENDPOINT, 3000)
    clock.advance(minutes=1)
    return started(sessions, team, clock, **BLUE_GREEN)


def _switched(sessions: sessionmaker[Session], team: Team, clock: Clock) -> int:
    rollout_id = _previewed(sessions, team, clock)
    with sessions.begin() as session:
        record_smoke(session, team, rollout_id, _smoke(), now=clock())
        switch(session, team, rollout_id, actor="ann", approval_id=None, now=clock())
    return rollout_id


def test_the_preview_answers_only_requests_that_name_it(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    rollout_id = _previewed(sessions, team, clock)
    assert _routes(sessions, team) == [(1, 100, "stable"), (2, 0, "preview")]
    with sessions.begin() as session:
        table = route_table(session, team, ENDPOINT)
    assert [p.version for p in table.previews] == [2]
    assert table.preview_version(2).provider_model_id
    assert {table.assign(f"customer-{n}").version for n in range(20_000)} == {1}
    users = traffic(sessions, team, clock, success={1: 0.99, 2: 0.99}, seed=12)
    users.send(ENDPOINT, 4000)
    with sessions.begin() as session:
        by_version = dict(
            session.execute(
                select(ModelVersionRow.version, func.count())
                .join(OutcomeRow, OutcomeRow.model_version_id == ModelVersionRow.id)
                .group_by(ModelVersionRow.version)
            ).all()
        )
        looked = take_look(session, team, rollout_id, now=clock())
    assert set(by_version) == {1} and by_version[1] == 7000
    assert looked.measurement is None  # before the switch, the smoke is the measurement


def test_a_failed_smoke_never_switches_and_rejects_the_candidate(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    rollout_id = _previewed(sessions, team, clock)
    with sessions.begin() as session:
        rollout, measurement = record_smoke(
            session, team, rollout_id, _smoke(errors=2), now=clock()
        )
    assert rollout.status is RolloutStatus.ROLLED_BACK
    assert measurement.verdict is Verdict.FAIL
    assert measurement.candidate.requests == 40 and measurement.candidate.errors == 2
    assert "2 of 40 smoke requests failed" in rollout.outcome
    assert _routes(sessions, team) == [(1, 100, "stable")]
    assert _stage(sessions, team, 2) is Stage.REJECTED
    with sessions.begin() as session:
        with pytest.raises(InvalidTransitionError, match="only a progressing blue-green"):
            switch(session, team, rollout_id, actor="ann", approval_id=None)


def test_a_smoke_below_the_accuracy_gate_fails_even_with_every_answer(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    rollout_id = _previewed(sessions, team, clock)
    with sessions.begin() as session:
        _, measurement = record_smoke(session, team, rollout_id, _smoke(correct=30), now=clock())
    assert measurement.verdict is Verdict.FAIL
    (accuracy,) = [c for c in measurement.checks if c.name == "smoke_accuracy"]
    assert accuracy.estimate == pytest.approx(0.75) and accuracy.margin == 0.8


def test_a_failure_in_the_rollback_window_switches_back_at_once(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    rollout_id = _switched(sessions, team, clock)
    assert _routes(sessions, team) == [(2, 100, "stable"), (1, 0, "preview")]
    worse = traffic(sessions, team, clock, success={1: 0.99, 2: 0.96}, seed=13)
    looks = drive(sessions, team, clock, worse, rollout_id, batch=1000, seconds=20)
    final = looks[-1]
    assert final.rollout.status is RolloutStatus.ROLLED_BACK, final.rollout.outcome
    assert final.decision is not None and final.decision.kind is DecisionKind.ROLLBACK
    # Within the window (600 s): every look before this one was inside it as well.
    assert len(looks) * 20 < 600
    assert [(r.version, r.weight) for r in final.decision.routes] == [(1, 100)]
    assert _routes(sessions, team) == [(1, 100, "stable")]
    assert _stage(sessions, team, 2) is Stage.REJECTED
    assert set(ledger_weights(sessions)) == {100}


def test_a_quiet_rollback_window_ends_in_production(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    rollout_id = _switched(sessions, team, clock)
    equal = traffic(sessions, team, clock, success={1: 0.99, 2: 0.99}, seed=14)
    looks = drive(sessions, team, clock, equal, rollout_id, batch=1000, seconds=60)
    final = looks[-1]
    assert final.rollout.status is RolloutStatus.SUCCEEDED, final.rollout.outcome
    held = [t for t in looks[:-1] if t.decision is not None]
    assert held and {t.decision.kind for t in held if t.decision} == {DecisionKind.HOLD}
    assert len(looks) * 60 >= 600  # the old stayed warm for the whole window
    with sessions.begin() as session:
        kinds = [d.kind for d in RolloutRepository(session, team).decisions(rollout_id)]
        history = LedgerRepository(session, team).history(
            ModelRepository(session, team).row("support-intent")
        )
    assert [k for k in kinds if k is not DecisionKind.HOLD] == [
        DecisionKind.START, DecisionKind.SWITCH, DecisionKind.PROMOTE,
    ]  # fmt: skip
    assert _routes(sessions, team) == [(2, 100, "stable")]
    assert _stage(sessions, team, 2) is Stage.PRODUCTION
    assert _stage(sessions, team, 1) is Stage.ARCHIVED
    assert history[-1].evidence["strategy"] == "blue-green"


def test_blue_green_refusals_name_the_field_and_change_nothing(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    with (
        sessions.begin() as session,
        pytest.raises(InvalidInputError, match=r"steps must be \[100\]"),
    ):
        create_rollout(session, team, request(**{**BLUE_GREEN, "steps": [10, 100]}))
    with sessions.begin() as session, pytest.raises(InvalidInputError, match="already has a route"):
        create_rollout(session, team, request(version=1, **BLUE_GREEN))
    generating = sessions()  # an image model's endpoint, for this transaction only
    try:
        generating.execute(update(ModelRow).values(category="text-to-image"))
        with pytest.raises(InvalidInputError, match="serves text-to-image"):
            create_rollout(generating, team, request(**BLUE_GREEN))
    finally:
        generating.rollback()
        generating.close()
    rollout_id = _previewed(sessions, team, clock)
    with (
        sessions.begin() as session,
        pytest.raises(InvalidTransitionError, match="no passed smoke"),
    ):
        switch(session, team, rollout_id, actor="ann", approval_id=None)
    assert _routes(sessions, team) == [(1, 100, "stable"), (2, 0, "preview")]
    with sessions.begin() as session:
        assert RolloutRepository(session, team).get(rollout_id).status is RolloutStatus.PROGRESSING


def test_a_preview_role_takes_no_weight_on_the_command_line() -> None:
    from registry.endpoints import WeightedVersion

    with pytest.raises(ValueError, match="a preview takes no weight"):
        WeightedVersion(version=2, weight=10, role=RouteRole.PREVIEW)

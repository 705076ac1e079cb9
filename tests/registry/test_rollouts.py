"""Rollouts on synthetic traffic routed by the endpoint's real route table: a worse canary
rolled back within its first judged step, an equal one promoted into production, no traffic
never a pass, pause/resume/abort, refusals that change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from registry.alerts.tables import AlertEventRow
from registry.domain import Team
from registry.endpoints import EndpointRepository
from registry.errors import ConflictError, InvalidInputError, NotFoundError
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.rollouts.domain import DecisionKind, RolloutStatus, Verdict
from registry.rollouts.lifecycle import create_rollout
from registry.rollouts.repository import RolloutRepository
from registry.rollouts.settle import abort_rollout, pause_rollout, resume_rollout
from registry.rollouts.steps import take_look
from registry.rollouts.tables import RolloutRow
from registry.stages import Stage
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


def _stages(sessions: sessionmaker[Session], team: Team) -> dict[int, Stage]:
    with sessions.begin() as session:
        return {
            v.version: v.stage for v in ModelRepository(session, team).versions("support-intent")
        }


def test_a_canary_two_points_worse_is_rolled_back_within_its_first_judged_step(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    rollout_id = started(sessions, team, clock)
    source = traffic(sessions, team, clock, success={1: 0.99, 2: 0.97}, seed=3)
    looks = drive(sessions, team, clock, source, rollout_id, batch=2000)
    final = looks[-1]
    assert final.rollout.status is RolloutStatus.ROLLED_BACK
    judged = [
        t for t in looks if t.measurement and t.measurement.verdict is not Verdict.INCONCLUSIVE
    ]
    assert judged[0] is final and final.rollout.step == 0
    assert final.measurement is not None and final.measurement.verdict is Verdict.FAIL
    assert final.measurement.candidate.requests >= 300
    with sessions.begin() as session:
        endpoint = EndpointRepository(session, team).get(ENDPOINT)
        assert [(r.version, r.weight) for r in endpoint.routes] == [(1, 100)]
        assert endpoint.owner is None
    assert _stages(sessions, team)[2] is Stage.REJECTED
    assert set(ledger_weights(sessions)) == {100}
    with sessions.begin() as session:
        (event,) = session.scalars(select(AlertEventRow)).all()
        rejected = LedgerRepository(session, team).history(
            ModelRepository(session, team).row("support-intent")
        )[-1]
    assert (event.kind, event.severity, event.labels["rollout"]) == (
        "rollout.rolled_back", "error", str(rollout_id),
    )  # fmt: skip
    assert rejected.to_stage is Stage.REJECTED
    assert rejected.evidence["last_measurement"]["verdict"] == "fail"


def test_an_equal_canary_reaches_100_percent_and_enters_production(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    rollout_id = started(sessions, team, clock)
    source = traffic(sessions, team, clock, success={1: 0.99, 2: 0.99}, seed=5)
    looks = drive(sessions, team, clock, source, rollout_id, batch=2000)
    assert looks[-1].rollout.status is RolloutStatus.SUCCEEDED, looks[-1].rollout.outcome
    with sessions.begin() as session:
        decisions = RolloutRepository(session, team).decisions(rollout_id)
        endpoint = EndpointRepository(session, team).get(ENDPOINT)
    kinds = [d.kind for d in decisions if d.kind is not DecisionKind.HOLD]
    assert kinds == [DecisionKind.START, DecisionKind.ADVANCE, DecisionKind.PROMOTE]
    assert [(r.version, r.weight) for r in endpoint.routes] == [(2, 100)]
    stages = _stages(sessions, team)
    assert stages[2] is Stage.PRODUCTION and stages[1] is Stage.ARCHIVED
    assert set(ledger_weights(sessions)) == {100}


@pytest.mark.parametrize(
    ("action", "status"),
    [("pause", RolloutStatus.PAUSED), ("rollback", RolloutStatus.ROLLED_BACK)],
)
def test_no_traffic_is_never_a_pass_the_deadline_follows_the_policy(
    sessions: sessionmaker[Session], team: Team, action: str, status: RolloutStatus
) -> None:
    clock = Clock()
    rollout_id = started(sessions, team, clock, step_deadline_seconds=60, on_inconclusive=action)
    clock.advance(seconds=30)
    with sessions.begin() as session:
        early = take_look(session, team, rollout_id, now=clock())
    assert early.rollout.status is RolloutStatus.PROGRESSING
    assert early.decision is not None and early.decision.kind is DecisionKind.HOLD
    clock.advance(seconds=31)
    with sessions.begin() as session:
        taken = take_look(session, team, rollout_id, now=clock())
    assert taken.measurement is not None and taken.measurement.verdict is Verdict.INCONCLUSIVE
    assert "0 baseline / 0 canary requests" in taken.measurement.reasons[0]
    assert taken.rollout.status is status
    assert "undecided and its deadline passed" in taken.rollout.outcome


def test_pause_holds_resume_continues_abort_restores(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    rollout_id = started(sessions, team, clock)
    with sessions.begin() as session:
        paused = pause_rollout(session, team, rollout_id, actor="ann", reason="look first")
        assert paused.status is RolloutStatus.PAUSED
        assert take_look(session, team, rollout_id, now=clock()).measurement is None
        resumed = resume_rollout(session, team, rollout_id, actor="ann", reason="go on")
        assert resumed.status is RolloutStatus.PROGRESSING
        weights = {
            r.version: r.weight for r in EndpointRepository(session, team).get(ENDPOINT).routes
        }
        assert weights == {1: 90, 2: 10}
        aborted = abort_rollout(session, team, rollout_id, actor="ann", reason="enough")
        assert aborted.status is RolloutStatus.ROLLED_BACK
        endpoint = EndpointRepository(session, team).get(ENDPOINT)
        assert [(r.version, r.weight) for r in endpoint.routes] == [(1, 100)]
        entries = LedgerRepository(session, team).history(
            ModelRepository(session, team).row("support-intent")
        )
    assert any("aborted by ann" in e.reason for e in entries)


@pytest.mark.parametrize(
    ("changes", "error", "field", "words"),
    [
        ({"endpoint": "no-such"}, NotFoundError, None, "no-such"),
        ({"version": 3}, InvalidInputError, "routes", "v3 is in development"),
        ({"version": 9}, InvalidInputError, "version", "has no version 9"),
        ({"steps": [10, 10, 100]}, InvalidInputError, "steps", "increase strictly"),
        ({"steps": [10, 50]}, InvalidInputError, "steps", "end at 100"),
        ({"strategy": "sideways"}, Exception, None, "sideways"),
    ],
)
def test_bad_requests_are_refused_precisely_and_change_nothing(
    sessions: sessionmaker[Session], team: Team, changes: dict[str, object], error: type[Exception],
    field: str | None, words: str,
) -> None:  # fmt: skip
    version = int(changes.pop("version", 2))  # type: ignore[call-overload]
    endpoint = str(changes.pop("endpoint", ENDPOINT))
    with pytest.raises(error) as raised:
        with sessions.begin() as session:
            base = request(version, **changes)
            create_rollout(session, team, base.model_copy(update={"endpoint": endpoint}))
    assert words in str(raised.value)
    if field is not None:
        assert getattr(raised.value, "field", None) == field
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(RolloutRow)) == 0


def test_a_second_deploy_on_the_endpoint_is_refused_naming_the_first(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    first = started(sessions, team, clock)
    with pytest.raises(ConflictError) as raised:
        with sessions.begin() as session:
            create_rollout(session, team, request(3))
    assert f"rollout #{first}" in str(raised.value) and "deploy-support-prod-v2" in str(
        raised.value
    )
    with sessions.begin() as session:
        again = create_rollout(session, team, request(2))
    assert again.id == first  # the same version again resumes it


def _mirrored(sessions: sessionmaker[Session], team: Team, clock: Clock, n: int) -> None:
    """`n` requests served by v1, each also mirrored to v2 (as the gateway records a
    shadow: an outcome of its own under the shadow version); v2 errs on every 20th."""
    from registry.endpoints import route_table
    from registry.outcomes import Outcome, store_outcomes

    with sessions.begin() as session:
        table = route_table(session, team, ENDPOINT)
        ids = {r.version: r.version_id for r in (*table.served, *table.shadows)}
        start = session.scalar(select(func.count()).select_from(RolloutRow)) or 0
        outcomes = []
        for i in range(n):
            for version, ok in ((1, True), (2, i % 20 != 0)):
                outcomes.append(
                    Outcome(
                        request_id=f"r{start}-{clock().timestamp():.0f}-{i}-{version}",
                        team_id=team.id,
                        endpoint_id=table.endpoint_id,
                        model_version_id=ids[version],
                        at=clock(),
                        latency_ms=50.0,
                        success=ok,
                        error_class=None if ok else "provider_error",
                        input_tokens=10,
                        output_tokens=2,
                        cost_micro_usd=10,
                        routing_key_hash=i,
                    )
                )
        store_outcomes(session, outcomes)


def test_shadow_mirrors_compares_and_reports_without_switching(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    rollout_id = started(sessions, team, clock, strategy="shadow", shadow_percent=100)
    with sessions.begin() as session:
        routes = EndpointRepository(session, team).get(ENDPOINT).routes
    assert [(r.version, r.weight, r.role.value) for r in routes] == [
        (1, 100, "stable"), (2, 100, "shadow"),
    ]  # fmt: skip
    for _ in range(10):
        _mirrored(sessions, team, clock, 400)
        clock.advance(seconds=20)
        with sessions.begin() as session:
            taken = take_look(session, team, rollout_id, now=clock())
        if taken.rollout.status is not RolloutStatus.PROGRESSING:
            break
    assert taken.rollout.status is RolloutStatus.SUCCEEDED
    assert taken.measurement is not None and taken.measurement.verdict is Verdict.FAIL
    assert taken.decision is not None and taken.decision.kind is DecisionKind.REPORT
    assert (
        "shadow report" in taken.rollout.outcome
        and "no traffic was switched" in taken.rollout.outcome
    )
    with sessions.begin() as session:
        endpoint = EndpointRepository(session, team).get(ENDPOINT)
    assert [(r.version, r.weight) for r in endpoint.routes] == [(1, 100)]
    assert _stages(sessions, team)[2] is Stage.STAGING  # a report moves no stage


def test_direct_moves_everything_at_once_and_watches_against_the_hour_before(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    history = traffic(sessions, team, clock, success={1: 0.99, 2: 0.99}, seed=8)
    history.send(ENDPOINT, 3000)  # v1's hour before the switch: the baseline
    clock.advance(minutes=1)
    rollout_id = started(sessions, team, clock, strategy="direct", steps=[100])
    with sessions.begin() as session:
        weights = [
            (r.version, r.weight) for r in EndpointRepository(session, team).get(ENDPOINT).routes
        ]
    assert weights == [(2, 100)]
    looks = drive(sessions, team, clock, history, rollout_id, batch=1000)
    final = looks[-1]
    assert final.rollout.status is RolloutStatus.SUCCEEDED, final.rollout.outcome
    assert final.measurement is not None and final.measurement.baseline.requests == 3000
    assert _stages(sessions, team)[2] is Stage.PRODUCTION


def test_rolling_has_no_comparison_only_its_absolute_guards(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    rollout_id = started(sessions, team, clock, strategy="rolling", steps=[50, 100],
                         max_error_rate=0.05)  # fmt: skip
    source = traffic(sessions, team, clock, success={1: 0.99, 2: 0.90}, seed=9)
    looks = drive(sessions, team, clock, source, rollout_id, batch=1000)
    final = looks[-1]
    assert final.rollout.status is RolloutStatus.ROLLED_BACK and final.rollout.step == 0
    assert final.measurement is not None
    assert [c.name for c in final.measurement.checks] == ["error_rate_limit"]
    assert "exceeds the limit 5.00%" in final.measurement.reasons[0]


def test_an_endpoint_undeployed_under_a_rollout_fails_it_and_says_why(
    sessions: sessionmaker[Session], team: Team
) -> None:
    from registry.alerts.tables import AlertEventRow as Events
    from registry.endpoints import EndpointChange, undeploy_endpoint

    clock = Clock()
    rollout_id = started(sessions, team, clock)
    with sessions.begin() as session:
        change = EndpointChange(endpoint=ENDPOINT, actor="ann", reason="incident")
        undeploy_endpoint(session, team, change)
    with sessions.begin() as session:
        taken = take_look(session, team, rollout_id, now=clock())
        kinds = [e.kind for e in session.scalars(select(Events))]
        endpoint = EndpointRepository(session, team).get(ENDPOINT)
    assert taken.rollout.status is RolloutStatus.FAILED
    assert "was undeployed while the rollout ran" in taken.rollout.outcome
    assert kinds == ["rollout.failed"]
    assert [(r.version, r.weight) for r in endpoint.routes] == [(1, 90), (2, 10)]  # the record

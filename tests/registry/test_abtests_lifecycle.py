"""An A/B test's life in the registry: planned from the rollups, checked against the endpoint,
split sticky under ownership, looked at from its start, stopped with the routes restored."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from analysis import sample_size_proportions, sequential_sample_size
from registry.abtests import (
    ABTestRepository,
    ABTestStatus,
    VerdictKind,
)
from registry.abtests.lifecycle import create_test, pending, start_test, take_look
from registry.abtests.settle import stop_test
from registry.abtests.tables import ABTestRow
from registry.domain import LedgerAction, Team
from registry.endpoints import (
    EndpointChange,
    EndpointOwnedError,
    Owner,
    OwnerKind,
    claim_endpoint,
    route_table,
    set_routes,
)
from registry.errors import InvalidInputError, NotFoundError
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tests.registry.abtest_support import ENDPOINT, Clock, definition, sessions, team, traffic
from tests.registry.seed import add_version, seed_model
from tests.registry.test_endpoints_support import (
    change,
    create,
    get,
    history,
    ledger_size,
    routes_of,
    seed_versions,
)

__all__ = ["sessions", "team"]  # fixtures


def _tests(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ABTestRow)) or 0)


def test_the_plan_is_the_sample_the_definition_implies_at_the_control_s_recent_rate(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    before = traffic(sessions, team, clock, seed=3)
    clock.advance(minutes=-30)
    before.send(ENDPOINT, 3000)  # half an hour ago, all on v1
    clock.advance(minutes=30)
    with sessions.begin() as session:
        test = create_test(session, team, definition(), now=clock())
        endpoint = get(session, team, ENDPOINT)
    observed = _observed_rate(sessions, team)
    fixed = sample_size_proportions(observed, 0.03, alpha=0.05, power=0.8)
    planned = sequential_sample_size(fixed)
    plan = test.plan
    assert before.stored == {1: 3000}
    assert plan.baseline == pytest.approx(observed, abs=0)
    assert (plan.fixed_n_a, plan.fixed_n_b) == (fixed.n_a, fixed.n_b)
    assert (plan.n_a, plan.n_b, plan.n_star) == (planned.n_a, planned.n_b, planned.total)
    assert plan.requests_per_minute == 3000 / 60
    assert plan.expected_minutes == pytest.approx(planned.total / 50.0)
    # Planning touches nothing: the endpoint still serves v1 alone, unowned.
    assert test.status is ABTestStatus.PLANNED
    assert endpoint.owner is None and routes_of(endpoint) == [(1, 100, "stable")]


def _observed_rate(sessions: sessionmaker[Session], team: Team) -> float:
    """v1's success rate, recomputed from the raw outcome rows."""
    from registry.outcomes.tables import OutcomeRow

    with sessions.begin() as session:
        ok, n = session.execute(
            select(func.count().filter(OutcomeRow.success), func.count()).where(
                OutcomeRow.team_id == team.id
            )
        ).one()
    return int(ok) / int(n)


def test_without_recent_traffic_the_plan_says_so_and_uses_the_default_tuning(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        plan = create_test(session, team, definition()).plan
    assert plan.n_a is None and plan.expected_minutes is None and plan.n_star == 5000
    assert "v1 has no recent success_rate to size from" in plan.note


def test_a_fixed_horizon_test_needs_a_planned_sample(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with pytest.raises(InvalidInputError, match="a fixed-horizon test is decided at its planned"):
        with sessions.begin() as session:
            create_test(session, team, definition(mode="fixed"))
    with sessions.begin() as session:
        assert _tests(session) == 0


@pytest.fixture
def crowded(sessions: sessionmaker[Session], team: Team) -> Team:
    """Beside alpha's support-intent: alpha's other-model with five versions, and team beta
    with its own endpoint."""
    with sessions.begin() as session:
        seed_model(session, "alpha", name="other-model")
        for _ in range(5):
            add_version(session, team, "other-model")
        beta = seed_versions(session, "beta")
        create(session, beta, "beta-prod")
    return team


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (
            {"variants": [{"version": 1, "weight": 50}, {"version": 5, "weight": 50}]},
            InvalidInputError,
            "variants: model 'support-intent' of endpoint 'support-prod' has no version 5",
        ),
        ({"endpoint": "beta-prod"}, NotFoundError, "no endpoint 'beta-prod' in team 'alpha'"),
        (
            {"variants": [{"version": 2, "weight": 50}, {"version": 1, "weight": 50}]},
            InvalidInputError,
            "a (the control) must be the production version; v2 is in staging",
        ),
        (
            {"variants": [{"version": 1, "weight": 50}, {"version": 3, "weight": 50}]},
            InvalidInputError,
            "support-intent v3 is in development: a production endpoint routes only to the "
            "production version and staging candidates",
        ),
        (
            {"promote_to": "staging"},
            InvalidInputError,
            "b (v2) is in staging and can be promoted to production, not to staging",
        ),
    ],
)
def test_bad_definitions_are_refused_precisely_and_change_nothing(
    sessions: sessionmaker[Session],
    crowded: Team,
    overrides: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    with sessions.begin() as session:
        ledger, revision = ledger_size(session), get(session, crowded, ENDPOINT).revision
    with pytest.raises(error, match=_escaped(message)), sessions.begin() as session:
        create_test(session, crowded, definition(**overrides))
    with sessions.begin() as session:
        assert _tests(session) == 0
        assert (ledger_size(session), get(session, crowded, ENDPOINT).revision) == (
            ledger,
            revision,
        )


def _escaped(message: str) -> str:
    import re

    return re.escape(message)


def test_an_endpoint_a_rollout_owns_is_refused_and_nothing_changes(
    sessions: sessionmaker[Session], team: Team
) -> None:
    rollout = Owner(kind=OwnerKind.ROLLOUT, id=42)
    with sessions.begin() as session:
        claim = EndpointChange(endpoint=ENDPOINT, actor="rollout-flow", reason="canary of v2")
        claim_endpoint(session, team, claim, rollout)
        ledger = ledger_size(session)
    with (
        pytest.raises(EndpointOwnedError, match="owned by rollout 42; an A/B test can start only"),
        sessions.begin() as session,
    ):
        create_test(session, team, definition())
    with sessions.begin() as session:
        assert _tests(session) == 0 and ledger_size(session) == ledger
        assert get(session, team, ENDPOINT).owner == rollout


def test_a_planned_test_cannot_start_once_a_rollout_took_the_endpoint(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        test = create_test(session, team, definition())
        claim_endpoint(
            session,
            team,
            EndpointChange(endpoint=ENDPOINT, actor="rollout-flow", reason="canary"),
            Owner(kind=OwnerKind.ROLLOUT, id=7),
        )
    with pytest.raises(EndpointOwnedError, match="owned by rollout 7"), sessions.begin() as s:
        start_test(s, team, test.id)
    with sessions.begin() as session:
        assert ABTestRepository(session, team).get(test.id).status is ABTestStatus.PLANNED


def test_a_running_test_owns_the_endpoint_and_splits_it_sticky_by_routing_key(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        test = create_test(session, team, definition())
        started = start_test(session, team, test.id, flow_run_id="run-1")
        endpoint = get(session, team, ENDPOINT)
        table = route_table(session, team, ENDPOINT)
        entries = history(session, team, ENDPOINT)
    assert started.status is ABTestStatus.RUNNING and started.deadline_at is not None
    assert started.routes_before[0].version == 1 and len(started.routes_before) == 1
    assert endpoint.owner == Owner(kind=OwnerKind.AB_TEST, id=test.id)
    assert routes_of(endpoint) == [(1, 50, "stable"), (2, 50, "variant")]
    assert [(e.action.value, str(e.owner)) for e in entries[-2:]] == [
        ("claim", f"ab test {test.id}"),
        ("route", f"ab test {test.id}"),
    ]
    keys = [f"user-{i}" for i in range(10_000)]
    assigned = [table.assign(key).version for key in keys]
    assert assigned == [table.assign(key).version for key in keys]  # sticky
    assert abs(Counter(assigned)[2] - 5000) < 4 * 50  # binomial sd 50
    # Nobody else moves the routes, and a rollout cannot take the endpoint over.
    with pytest.raises(EndpointOwnedError), sessions.begin() as session:
        set_routes(session, team, change(ENDPOINT, {1: 100}))
    with pytest.raises(EndpointOwnedError), sessions.begin() as session:
        claim = EndpointChange(endpoint=ENDPOINT, actor="rollout-flow", reason="canary")
        claim_endpoint(session, team, claim, Owner(kind=OwnerKind.ROLLOUT, id=1))
    with sessions.begin() as session:  # starting again (a resumed flow) changes nothing
        again = start_test(session, team, test.id)
        assert get(session, team, ENDPOINT).revision == endpoint.revision
    assert again.status is ABTestStatus.RUNNING


def test_a_look_counts_only_what_came_after_the_split(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    clock.at = clock.at.replace(second=5)
    before = traffic(sessions, team, clock, seed=1)
    before.send(ENDPOINT, 300)  # the start minute, before the split: all on v1
    with sessions.begin() as session:
        test = create_test(session, team, definition(), now=clock())
        start_test(session, team, test.id, now=clock.advance(seconds=10))
    during = traffic(sessions, team, clock, seed=2)
    clock.advance(seconds=10)
    during.send(ENDPOINT, 1000)
    clock.advance(seconds=60)
    during.send(ENDPOINT, 1000)
    with sessions.begin() as session:
        assert pending(session, team, test.id)[:2] == (ABTestStatus.RUNNING, 2000)
        _, look = take_look(session, team, test.id, now=clock())
        assert pending(session, team, test.id)[:2] == (ABTestStatus.RUNNING, 0)
    assert look is not None and look.number == 1
    assert (look.a.requests, look.b.requests) == (during.stored[1], during.stored[2])
    assert look.result.srm.counts == (during.stored[1], during.stored[2])


def test_at_the_deadline_the_look_is_final_and_inconclusive(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    with sessions.begin() as session:
        test = create_test(session, team, definition(max_duration_hours=1), now=clock())
        start_test(session, team, test.id, now=clock())
    traffic(sessions, team, clock, seed=4).send(ENDPOINT, 400)
    with sessions.begin() as session:
        _, early = take_look(session, team, test.id, now=clock.advance(minutes=59))
        ended, last = take_look(session, team, test.id, now=clock.advance(minutes=2))
        after, none = take_look(session, team, test.id, now=clock.advance(minutes=1))
    assert early is not None and early.result.verdict is None and not early.result.final
    assert last is not None and last.result.final
    assert last.result.verdict is VerdictKind.INCONCLUSIVE
    assert "the maximum duration came first" in last.result.reason
    assert "interval [" in last.result.reason
    assert ended.status is ABTestStatus.CONCLUDED and after.looks == 2 and none is None


def test_stopping_restores_the_routes_releases_and_leaves_evidence_in_the_ledger(
    sessions: sessionmaker[Session], team: Team
) -> None:
    clock = Clock()
    with sessions.begin() as session:
        test = create_test(session, team, definition(), now=clock())
        start_test(session, team, test.id, now=clock())
    traffic(sessions, team, clock, seed=5).send(ENDPOINT, 500)
    with sessions.begin() as session:
        stopped = stop_test(session, team, test.id, actor="bob", reason="wrong prompt", now=clock())
        endpoint = get(session, team, ENDPOINT)
        model = ModelRepository(session, team)
        entries = LedgerRepository(session, team).history(model.row("support-intent"))
        v2 = model.version("support-intent", 2)
        looks = ABTestRepository(session, team).looks(test.id)
    assert stopped.status is ABTestStatus.STOPPED and stopped.verdict is VerdictKind.STOPPED
    assert "stopped by bob (wrong prompt)" in stopped.verdict_reason
    assert endpoint.owner is None and routes_of(endpoint) == [(1, 100, "stable")]
    assert v2.stage is Stage.STAGING  # the loser stays where it was
    evidence = [e for e in entries if e.action is LedgerAction.AB_TEST]
    assert [(e.version, e.from_stage, e.to_stage) for e in evidence] == [
        (1, Stage.PRODUCTION, Stage.PRODUCTION),
        (2, Stage.STAGING, Stage.STAGING),
    ]
    assert evidence[1].evidence["ab_test"] == test.id
    assert evidence[1].evidence["last_look"] == looks[-1].result.model_dump(mode="json")
    with pytest.raises(Exception, match="already stopped"), sessions.begin() as session:
        stop_test(session, team, test.id, actor="bob", reason="again")

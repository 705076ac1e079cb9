"""An A/B test from definition to verdict: plan it, split the endpoint, look at the data.
Each function runs in the caller's transaction and changes nothing when it raises."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.abtests.definition import ABTestDefinition, Stopping
from registry.abtests.domain import ABTest, ABTestStatus, ArmData, Look
from registry.abtests.judge import judge_look
from registry.abtests.plan import BASELINE_MINUTES, make_plan
from registry.abtests.repository import ABTestRepository
from registry.abtests.samples import arm_data, subtract
from registry.abtests.tables import ABTestLookRow, ABTestRow
from registry.abtests.validation import check_definition
from registry.domain import Team
from registry.endpoints import (
    EndpointChange,
    Owner,
    OwnerKind,
    Route,
    RouteChange,
    WeightedVersion,
    claim_endpoint,
    set_routes,
)
from registry.errors import InvalidInputError, InvalidTransitionError, translate_database_errors
from registry.orm import utcnow
from registry.outcomes import window_stats
from registry.outcomes.rollups import minute_of
from registry.outcomes.tables import OutcomeRollupRow
from registry.routing import RouteRole

MINUTE = timedelta(minutes=1)


def owner_of_test(test_id: int) -> Owner:
    return Owner(kind=OwnerKind.AB_TEST, id=test_id)


def create_test(
    session: Session, team: Team, definition: ABTestDefinition, *, now: datetime | None = None
) -> ABTest:
    """A planned test: checked against the endpoint and its versions, sized from the
    endpoint's last hour of rollups. The endpoint is not touched until `start_test`."""
    now = now or utcnow()
    with translate_database_errors(f"planning an A/B test on {definition.endpoint}"):
        checked = check_definition(session, team, definition)
        windows = window_stats(
            session, team, checked.endpoint.id, now - BASELINE_MINUTES * MINUTE, _end(now)
        )
        plan = make_plan(definition, windows, checked.a.id)
        if definition.mode is Stopping.FIXED and plan.n_a is None:
            raise InvalidInputError(
                f"mode: a fixed-horizon test is decided at its planned sample, and there is "
                f"none: {plan.note.split(';')[0]}; run it sequential, or once the endpoint "
                "has traffic",
                field="mode",
            )
        row = ABTestRow(
            team_id=team.id,
            endpoint_id=checked.endpoint.id,
            model_id=checked.endpoint.model_id,
            a_version_id=checked.a.id,
            b_version_id=checked.b.id,
            status=ABTestStatus.PLANNED.value,
            definition=definition.model_dump(mode="json"),
            plan=plan.model_dump(mode="json"),
            routes_before=[],
            created_by=definition.actor,
            created_at=now,
        )
        return ABTestRepository(session, team).add(row)


def start_test(
    session: Session,
    team: Team,
    test_id: int,
    *,
    flow_run_id: str | None = None,
    now: datetime | None = None,
) -> ABTest:
    """Own the endpoint and split it a/b by the test's weights (sticky by routing key).
    Starting a running test again changes nothing, so a resumed flow may repeat it."""
    now = now or utcnow()
    tests = ABTestRepository(session, team)
    with translate_database_errors(f"starting A/B test #{test_id}"):
        row = tests.row(test_id, for_update=True)
        if row.status == ABTestStatus.RUNNING.value:
            row.flow_run_id = flow_run_id or row.flow_run_id
            return tests.view(row)
        if row.status != ABTestStatus.PLANNED.value:
            raise InvalidTransitionError(
                f"A/B test #{test_id} is {row.status}; only a planned test can start"
            )
        test = tests.view(row)
        before = _split(session, team, test)
        row.routes_before = [route.model_dump(mode="json") for route in before]
        row.start_minute = _start_minute(session, team, row, test.definition, now)
        row.status = ABTestStatus.RUNNING.value
        row.started_at = now
        row.deadline_at = now + timedelta(hours=test.definition.max_duration_hours)
        row.flow_run_id = flow_run_id
        session.flush()
        return tests.view(row)


def take_look(
    session: Session, team: Team, test_id: int, *, now: datetime | None = None
) -> tuple[ABTest, Look | None]:
    """Judge the data so far and persist the look with its statistics; a verdict concludes
    the test. A test no longer running gets no look (None)."""
    now = now or utcnow()
    tests = ABTestRepository(session, team)
    with translate_database_errors(f"looking at A/B test #{test_id}"):
        row = tests.row(test_id, for_update=True)
        if row.status != ABTestStatus.RUNNING.value:
            return tests.view(row), None
        look = record_look(session, team, row, now)
        return tests.view(row), look


def record_look(
    session: Session, team: Team, row: ABTestRow, now: datetime, *, stopped_by: str | None = None
) -> Look:
    """One look at a running test whose row the caller has locked."""
    tests = ABTestRepository(session, team)
    test = tests.view(row)
    a, b = arms_now(session, team, row, test.definition, now)
    assert row.deadline_at is not None
    final = now >= row.deadline_at
    result = judge_look(test.definition, test.plan, a, b, final=final, stopped_by=stopped_by)
    look = tests.add_look(row, now, a, b, result)
    if result.verdict is not None:
        row.status = ABTestStatus.CONCLUDED.value
        row.verdict = result.verdict.value
        row.verdict_reason = result.reason
        row.concluded_at = now
        session.flush()
    return look


def arms_now(
    session: Session, team: Team, row: ABTestRow, definition: ABTestDefinition, now: datetime
) -> tuple[ArmData, ArmData]:
    """Both arms' statistics from the start to now, from the rollups: the whole minutes
    since the start minute, less the start minute's sums as they stood at the start."""
    assert row.started_at is not None
    windows = window_stats(session, team, row.endpoint_id, row.started_at, _end(now))
    infos = [definition.primary.info, *(g.info for g in definition.guardrails)]
    before = row.start_minute or {}
    arms = []
    for key, variant, version_id in (
        ("a", definition.a, row.a_version_id),
        ("b", definition.b, row.b_version_id),
    ):
        total = arm_data(variant.version, windows.get(version_id), infos)
        start = ArmData.model_validate(before[key]) if key in before else None
        arms.append(subtract(total, start))
    return arms[0], arms[1]


def _split(session: Session, team: Team, test: ABTest) -> list[Route]:
    """Claim the endpoint and split it; returns the routes it had before."""
    definition = test.definition
    owner = owner_of_test(test.id)
    reason = f"A/B test #{test.id}: v{definition.a.version} vs v{definition.b.version}"
    claimed = claim_endpoint(
        session,
        team,
        EndpointChange(endpoint=test.endpoint, actor=definition.actor, reason=reason),
        owner,
    )
    change = RouteChange(
        endpoint=test.endpoint,
        routes=[
            WeightedVersion(
                version=definition.a.version, weight=definition.a.weight, role=RouteRole.STABLE
            ),
            WeightedVersion(
                version=definition.b.version, weight=definition.b.weight, role=RouteRole.VARIANT
            ),
        ],
        actor=definition.actor,
        reason=f"{reason}, split {definition.a.weight}/{definition.b.weight}",
    )
    set_routes(session, team, change, owner=owner)
    return list(claimed.routes)


def _start_minute(
    session: Session, team: Team, row: ABTestRow, definition: ABTestDefinition, now: datetime
) -> dict[str, object]:
    """Each arm's sums in the start minute so far: outcomes from before the split."""
    start = minute_of(now)
    windows = window_stats(session, team, row.endpoint_id, start, start + MINUTE)
    infos = [definition.primary.info, *(g.info for g in definition.guardrails)]
    return {
        "a": arm_data(definition.a.version, windows.get(row.a_version_id), infos).model_dump(
            mode="json"
        ),
        "b": arm_data(definition.b.version, windows.get(row.b_version_id), infos).model_dump(
            mode="json"
        ),
    }


def _end(now: datetime) -> datetime:
    """The end of a window that includes the current minute."""
    return minute_of(now) + MINUTE


class Pending(NamedTuple):
    """What a waiting flow polls: the status, the requests after the last look, the deadline."""

    status: ABTestStatus
    unlooked: int
    deadline_at: datetime | None


def pending(session: Session, team: Team, test_id: int) -> Pending:
    """The cheap count a waiting flow polls: sums over the arms' rollup rows, no histograms."""
    row = ABTestRepository(session, team).row(test_id)
    status = ABTestStatus(row.status)
    if row.started_at is None:
        return Pending(status, 0, row.deadline_at)
    R, L = OutcomeRollupRow, ABTestLookRow
    total = session.scalar(
        select(func.coalesce(func.sum(R.requests), 0)).where(
            R.team_id == team.id,
            R.endpoint_id == row.endpoint_id,
            R.minute >= minute_of(row.started_at),
            R.model_version_id.in_([row.a_version_id, row.b_version_id]),
        )
    )
    looked = session.execute(
        select(L.requests_a + L.requests_b).where(L.test_id == row.id).order_by(L.number.desc())
    ).scalar()
    start = row.start_minute or {}
    before = sum(int(start[arm]["requests"]) for arm in ("a", "b") if arm in start)
    return Pending(status, int(total or 0) - before - int(looked or 0), row.deadline_at)

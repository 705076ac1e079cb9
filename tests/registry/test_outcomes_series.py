"""An endpoint's series per version and step, summed from the rollups, equal what plain
Python computes from the outcomes, on PostgreSQL and SQLite; the window is bounded, steps
are aligned, and no statement reads the raw outcomes table."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from registry.errors import InvalidInputError
from registry.outcomes import LogHistogram, Outcome, store_outcomes
from registry.outcomes.series import MAX_POINTS, endpoint_series
from tests.registry.test_outcomes_support import (
    ENDPOINT,
    OTHER_TEAM,
    T0,
    TEAM,
    make_outcomes,
    sessions_for,
)

MINUTE = timedelta(minutes=1)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    with sessions_for(db_url) as factory:
        yield factory


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> list[Outcome]:
    """3,000 outcomes 4 s apart from 12:00: 200 minutes, versions 1 and 2 alternating;
    team B has traffic on the same endpoint id, which must never show."""
    outcomes = make_outcomes(3000, spacing=timedelta(seconds=4))
    other = make_outcomes(500, prefix="b", team_id=OTHER_TEAM.id, spacing=timedelta(seconds=4))
    with sessions.begin() as session:
        store_outcomes(session, outcomes + other)
    return outcomes


def test_each_step_holds_exactly_the_outcomes_of_its_minutes(
    sessions: sessionmaker[Session], stored: list[Outcome]
) -> None:
    until = T0 + 199 * MINUTE + timedelta(seconds=30)  # inside the last minute of traffic
    with sessions() as session:
        series = endpoint_series(session, TEAM, ENDPOINT, until, points=14, step_minutes=15)
    # Steps are aligned on the clock: the last one is 15:15-15:30 and holds 15:19.
    assert series.starts[-1] == T0 + 195 * MINUTE and series.step == 15 * MINUTE
    assert series.starts[0] == T0 + 0 * MINUTE and len(series.starts) == 14
    assert set(series.versions) == {1, 2}
    for version, got in series.versions.items():
        for i, start in enumerate(series.starts):
            mine = [o for o in stored if o.model_version_id == version]
            inside = [o for o in mine if start <= o.at < start + series.step]
            assert got.requests[i] == len(inside)
            assert got.errors[i] == sum(not o.success for o in inside)
            assert got.cost_micro_usd[i] == sum(o.cost_micro_usd for o in inside)
            expected = LogHistogram.from_durations_ms(o.latency_ms for o in inside).quantile(0.95)
            assert got.p95_ms[i] == (None if expected is None else round(expected.estimate_ms, 3))
            if inside:  # and that estimate is within a bucket (10%) of the true p95
                latencies = sorted(o.latency_ms for o in inside)
                true = latencies[math.ceil(0.95 * len(latencies)) - 1]
                assert got.p95_ms[i] == pytest.approx(true, rel=0.1)
            rate = got.error_rate[i]
            assert rate == (got.errors[i] / len(inside) if inside else None)


def test_a_window_before_the_traffic_is_empty_and_another_team_sees_nothing(
    sessions: sessionmaker[Session], stored: list[Outcome]
) -> None:
    with sessions() as session:
        before = endpoint_series(session, TEAM, ENDPOINT, T0 - MINUTE, points=30, step_minutes=1)
        unknown = endpoint_series(session, TEAM, 999, T0 + 60 * MINUTE, points=60, step_minutes=1)
        other = endpoint_series(
            session, OTHER_TEAM, ENDPOINT, T0 + 60 * MINUTE, points=60, step_minutes=1
        )
    assert before.versions == {} and unknown.versions == {}
    # 12:01 to 12:61 (the minute `until` falls in counts): team B's, from its own outcomes.
    assert other.starts[0] == T0 + MINUTE
    theirs = [T0 + timedelta(seconds=4 * i) for i in range(500)]
    assert sum(sum(s.requests) for s in other.versions.values()) == sum(
        1 for at in theirs if T0 + MINUTE <= at < T0 + 61 * MINUTE
    )


def test_the_series_reads_rollups_only(
    sessions: sessionmaker[Session], stored: list[Outcome]
) -> None:
    statements: list[str] = []
    with sessions() as session:
        bind = session.get_bind()

        def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
            statements.append(statement)

        event.listen(bind, "before_cursor_execute", seen)
        try:
            endpoint_series(
                session, TEAM, ENDPOINT, T0 + 3 * 60 * MINUTE, points=72, step_minutes=5
            )
        finally:
            event.remove(bind, "before_cursor_execute", seen)
    assert statements
    assert not [s for s in statements if re.search(r"\boutcomes\b", s)], statements


@pytest.mark.parametrize(
    ("points", "step", "field"),
    [
        (0, 5, "points"),
        (MAX_POINTS + 1, 1, "points"),
        (10, 0, "step_minutes"),
        (10, 1441, "step_minutes"),
    ],
)
def test_an_unbounded_window_is_refused_naming_the_field(
    sessions: sessionmaker[Session], points: int, step: int, field: str
) -> None:
    with sessions() as session, pytest.raises(InvalidInputError) as error:
        endpoint_series(session, TEAM, ENDPOINT, T0, points=points, step_minutes=step)
    assert error.value.field == field and field in str(error.value)


def test_a_naive_until_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(InvalidInputError) as error:
        endpoint_series(session, TEAM, ENDPOINT, T0.replace(tzinfo=None), points=5, step_minutes=1)
    assert error.value.field == "until"

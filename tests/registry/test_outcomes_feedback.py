"""Feedback by request id: folded into the outcome's minute exactly once, whether it arrives
after the outcome or before it, and a later value replaces the earlier one per field."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from registry.errors import InvalidInputError
from registry.outcomes import (
    FeedbackStatus,
    apply_pending_feedback,
    record_feedback,
    store_outcomes,
)
from registry.outcomes.tables import OutcomeRow, PendingFeedbackRow, RollupMetricRow
from tests.registry.test_outcomes_support import (
    OTHER_TEAM,
    TEAM,
    exact_sums,
    make_outcomes,
    rollup_rows,
    sessions_for,
)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    with sessions_for(db_url) as factory:
        yield factory


def quality_of(session: Session) -> tuple[int, float, float]:
    """(n, sum, sum of squares) of quality over every rollup row."""
    rows = rollup_rows(session).values()
    return (
        sum(r.quality_n for r in rows),
        sum(r.quality_sum for r in rows),
        sum(r.quality_sum_sq for r in rows),
    )


def metric_of(session: Session, name: str) -> tuple[int, float, float]:
    rows = session.scalars(select(RollupMetricRow).where(RollupMetricRow.name == name)).all()
    return sum(r.n for r in rows), sum(r.sum for r in rows), sum(r.sum_sq for r in rows)


def feedback(sessions: sessionmaker[Session], request_id: str, **values: Any) -> FeedbackStatus:
    with sessions.begin() as session:
        return record_feedback(session, TEAM, request_id, **values)


def store(sessions: sessionmaker[Session], outcomes: list[Any]) -> None:
    with sessions.begin() as session:
        store_outcomes(session, outcomes)


def plain_outcomes(n: int) -> list[Any]:
    """Outcomes without scores of their own."""
    return [o for o in make_outcomes(n * 10) if o.quality is None and not o.metrics][:n]


def test_feedback_after_the_outcome_is_folded_into_its_minute(
    sessions: sessionmaker[Session],
) -> None:
    [outcome] = plain_outcomes(1)
    store(sessions, [outcome])
    status = feedback(sessions, outcome.request_id, quality=0.75, metrics={"csat": 4.2})
    assert status is FeedbackStatus.APPLIED
    with sessions.begin() as session:
        assert quality_of(session) == (1, 0.75, 0.5625)
        assert metric_of(session, "csat") == (1, 4.2, pytest.approx(4.2 * 4.2, rel=1e-15))
        row = session.get(OutcomeRow, outcome.request_id)
        assert row is not None and (row.quality, row.metrics) == (0.75, {"csat": 4.2})
        assert row.feedback_at is not None
        assert session.scalars(select(PendingFeedbackRow)).all() == []


def test_feedback_before_its_outcome_waits_and_is_applied_exactly_once(
    sessions: sessionmaker[Session],
) -> None:
    [outcome] = plain_outcomes(1)
    status = feedback(sessions, outcome.request_id, quality=0.5)
    assert status is FeedbackStatus.PENDING
    with sessions.begin() as session:
        assert apply_pending_feedback(session) == 0  # nothing to join yet
    store(sessions, [outcome])
    with sessions.begin() as session:
        assert quality_of(session) == (0, 0, 0)
        assert apply_pending_feedback(session) == 1
    with sessions.begin() as session:
        assert apply_pending_feedback(session) == 0
        assert quality_of(session) == (1, 0.5, 0.25)
        assert session.scalars(select(PendingFeedbackRow)).all() == []


def test_a_later_value_replaces_the_earlier_one_field_by_field(
    sessions: sessionmaker[Session],
) -> None:
    [outcome] = plain_outcomes(1)
    rid = outcome.request_id
    feedback(sessions, rid, quality=0.1, metrics={"csat": 2.0})  # before the outcome
    feedback(sessions, rid, metrics={"resolved": 1.0})  # merges with the pending one
    store(sessions, [outcome])
    with sessions.begin() as session:
        apply_pending_feedback(session)
    feedback(sessions, rid, quality=0.3)
    feedback(sessions, rid, metrics={"csat": 5.0})
    with sessions.begin() as session:
        n, total, squares = quality_of(session)
        # SQLite sums doubles (0.1 + (0.3 - 0.1) is 0.30000000000000004); PostgreSQL, below.
        assert n == 1
        assert math.isclose(total, 0.3, rel_tol=1e-12)
        assert math.isclose(squares, 0.09, rel_tol=1e-12)
        assert metric_of(session, "csat")[:2] == (1, 5.0)
        assert metric_of(session, "resolved")[:2] == (1, 1.0)
        row = session.get(OutcomeRow, rid)
        assert row is not None and row.metrics == {"csat": 5.0, "resolved": 1.0}
        if session.get_bind().dialect.name == "postgresql":
            [sums] = exact_sums(session).values()
            assert sums[2:] == (Decimal("0.3"), Decimal("0.09"))  # 0.1 taken out exactly


def test_feedback_replaces_a_score_reported_with_the_outcome(
    sessions: sessionmaker[Session],
) -> None:
    [outcome] = [o for o in make_outcomes(50) if o.quality is not None][:1]
    store(sessions, [outcome])
    with sessions.begin() as session:
        assert quality_of(session)[0] == 1
    assert feedback(sessions, outcome.request_id, quality=0.875) is FeedbackStatus.APPLIED
    with sessions.begin() as session:
        assert quality_of(session) == (1, 0.875, 0.765625)


def test_feedback_from_another_team_never_reaches_the_outcome(
    sessions: sessionmaker[Session],
) -> None:
    [outcome] = plain_outcomes(1)
    store(sessions, [outcome])
    with sessions.begin() as session:
        status = record_feedback(session, OTHER_TEAM, outcome.request_id, quality=0.0)
        assert status is FeedbackStatus.PENDING  # as if the request did not exist
        assert apply_pending_feedback(session) == 0
    with sessions.begin() as session:
        assert quality_of(session) == (0, 0, 0)
        row = session.get(OutcomeRow, outcome.request_id)
        assert row is not None and row.quality is None


def test_feedback_racing_its_outcome_is_applied_by_the_sweep(pg_url: str) -> None:
    """The batch holds the outcome uncommitted while the feedback looks for it: neither
    sees the other, both commit, and apply_pending_feedback joins them afterwards."""
    [outcome] = plain_outcomes(1)
    with sessions_for(pg_url) as sessions:
        batch = sessions()
        batch.begin()
        store_outcomes(batch, [outcome])
        assert feedback(sessions, outcome.request_id, quality=0.25) is FeedbackStatus.PENDING
        batch.commit()
        batch.close()
        with sessions.begin() as session:
            assert apply_pending_feedback(session) == 1
        with sessions.begin() as session:
            assert quality_of(session) == (1, 0.25, 0.0625)


@pytest.mark.parametrize(
    ("request_id", "values", "field"),
    [
        ("", {"quality": 1.0}, "request_id"),
        ("bad id", {"quality": 1.0}, "request_id"),
        ("r-1", {}, "quality"),
        ("r-1", {"quality": float("nan")}, "quality"),
        ("r-1", {"quality": 1e13}, "quality"),
        ("r-1", {"metrics": {"Bad-Name": 1.0}}, "metrics"),
        ("r-1", {"metrics": {"csat": float("inf")}}, "metrics.csat"),
        ("r-1", {"metrics": {"csat": "4"}}, "metrics.csat"),
    ],
)
def test_bad_feedback_names_the_field_and_changes_nothing(
    sessions: sessionmaker[Session], request_id: str, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        feedback(sessions, request_id, **values)
    assert raised.value.field == field
    with sessions.begin() as session:
        assert session.scalars(select(PendingFeedbackRow)).all() == []

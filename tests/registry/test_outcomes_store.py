"""Batches of outcomes land once per request id, and their rollups equal sums recomputed
from the outcomes themselves; on PostgreSQL (COPY, exact NUMERIC sums) and SQLite alike."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from datetime import timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from registry.errors import InvalidInputError
from registry.outcomes import encode_outcome, store_outcome_lines, store_outcomes
from registry.outcomes.tables import RollupErrorRow, RollupHistogramRow, RollupMetricRow
from tests.registry.test_outcomes_support import (
    T0,
    bucket_counts,
    count_outcomes,
    exact_sums,
    expected_by_minute,
    make_outcomes,
    rollup_rows,
    sessions_for,
    snapshot,
)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    with sessions_for(db_url) as factory:
        yield factory


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def test_rollups_equal_sums_recomputed_from_the_outcomes(
    sessions: sessionmaker[Session],
) -> None:
    # 3,000 outcomes 100 ms apart: five minutes, two versions, in three batches.
    outcomes = make_outcomes(3000)
    for start in range(0, 3000, 1000):
        with sessions.begin() as session:
            result = store_outcomes(session, outcomes[start : start + 1000])
        assert (result.inserted, result.duplicates) == (1000, 0)
    expected = expected_by_minute(outcomes)
    with sessions.begin() as session:
        rows = rollup_rows(session)
        assert count_outcomes(session) == 3000
        assert set(rows) == set(expected)
        for key, want in expected.items():
            row = rows[key]
            for name in ("requests", "successes", "latency_sum_us", "ttft_n", "ttft_sum_us"):
                assert getattr(row, name) == getattr(want, name), (key, name)
            for name in ("input_tokens", "output_tokens", "cached_input_tokens"):
                assert getattr(row, name) == getattr(want, name), (key, name)
            assert row.cost_micro_usd == want.cost_micro_usd
            assert row.cost_sum_sq_micro_usd2 == want.cost_sum_sq_micro_usd2  # below 2**53
            assert row.quality_n == want.quality_n
            for name in ("latency_sum_sq_us2", "ttft_sum_sq_us2", "quality_sum", "quality_sum_sq"):
                assert math.isclose(getattr(row, name), float(getattr(want, name)), rel_tol=1e-12)
        if is_postgresql(session):  # NUMERIC: equal to the last digit
            for key, sums in exact_sums(session).items():
                want = expected[key]
                assert sums == (
                    want.latency_sum_sq_us2,
                    want.ttft_sum_sq_us2,
                    want.quality_sum,
                    want.quality_sum_sq,
                )
        assert _histograms(session) == {
            (key, metric): bucket_counts(durations)
            for key, want in expected.items()
            for metric, durations in (("latency", want.latencies_ms), ("ttft", want.ttfts_ms))
            if durations
        }
        errors = session.scalars(select(RollupErrorRow))
        assert {(r.minute, r.model_version_id, r.error_class): r.count for r in errors} == {
            (*key, error): count
            for key, want in expected.items()
            for error, count in want.errors.items()
        }
        metric_rows = session.scalars(select(RollupMetricRow))
        assert {(r.minute, r.model_version_id, r.name): (r.n, r.sum) for r in metric_rows} == {
            (*key, name): (len(values), sum(values))
            for key, want in expected.items()
            for name, values in want.metrics.items()
        }


def _histograms(session: Session) -> dict[tuple[tuple[object, int], str], dict[int, int]]:
    found: dict[tuple[tuple[object, int], str], dict[int, int]] = {}
    for row in session.scalars(select(RollupHistogramRow)):
        found.setdefault(((row.minute, row.model_version_id), row.metric), {})[row.bucket] = (
            row.count
        )
    return found


def test_replaying_a_batch_changes_nothing(sessions: sessionmaker[Session]) -> None:
    outcomes = make_outcomes(800)
    with sessions.begin() as session:
        store_outcomes(session, outcomes[:500])
    with sessions.begin() as session:
        before = snapshot(session)
    with sessions.begin() as session:
        replay = store_outcomes(session, outcomes[:500])
    assert (replay.inserted, replay.duplicates) == (0, 500)
    with sessions.begin() as session:
        assert snapshot(session) == before
    # Half old, half new: only the new half is counted.
    with sessions.begin() as session:
        mixed = store_outcomes(session, outcomes[250:800])
    assert (mixed.inserted, mixed.duplicates) == (300, 250)
    with sessions.begin() as session:
        rows = rollup_rows(session)
        assert sum(row.requests for row in rows.values()) == 800
        assert {key: row.latency_sum_us for key, row in rows.items()} == {
            key: want.latency_sum_us for key, want in expected_by_minute(outcomes).items()
        }


def test_an_empty_batch_writes_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        result = store_outcome_lines(session, [])
        assert (result.inserted, result.duplicates) == (0, 0)
        assert rollup_rows(session) == {}


def test_a_request_id_twice_in_one_batch_counts_once(sessions: sessionmaker[Session]) -> None:
    first, again = make_outcomes(1), make_outcomes(1, seed=99)  # same id, other values
    with sessions.begin() as session:
        result = store_outcomes(session, [first[0], again[0]])
    assert (result.inserted, result.duplicates) == (1, 1)
    with sessions.begin() as session:
        [row] = rollup_rows(session).values()
        assert (row.requests, row.latency_sum_us) == (1, round(first[0].latency_ms * 1000))


def test_a_damaged_line_is_refused_and_nothing_is_written(sessions: sessionmaker[Session]) -> None:
    lines = [encode_outcome(o) for o in make_outcomes(10)]
    lines[6] = lines[6].replace(b"\t", b"\tx", 1)  # team id "x1"
    with pytest.raises(InvalidInputError) as raised, sessions.begin() as session:
        store_outcome_lines(session, lines)
    assert raised.value.field == "line"
    with sessions.begin() as session:
        assert count_outcomes(session) == 0
        assert rollup_rows(session) == {}


def test_a_line_the_database_refuses_rolls_back_the_batch(pg_url: str) -> None:
    lines = [encode_outcome(o) for o in make_outcomes(10)]
    # The rollups read only the minute; PostgreSQL reads the whole (impossible) time.
    lines[3] = lines[3].replace(b":00.", b":99.", 1)
    with sessions_for(pg_url) as sessions:
        with pytest.raises(InvalidInputError, match="refused"), sessions.begin() as session:
            store_outcome_lines(session, lines)
        with sessions.begin() as session:
            assert count_outcomes(session) == 0
            assert rollup_rows(session) == {}


def test_two_writers_storing_the_same_batch_at_once_count_it_once(pg_url: str) -> None:
    """The second COPY waits for the first transaction's rows, fails on their ids, and takes
    the INSERT … ON CONFLICT path: only new rows are folded."""
    outcomes = make_outcomes(600)
    holding, results = threading.Event(), []
    with sessions_for(pg_url) as sessions:
        first = sessions()
        first.begin()
        results.append(store_outcomes(first, outcomes[:400]))

        def second_writer() -> None:
            with sessions.begin() as session:
                holding.set()
                results.append(store_outcomes(session, outcomes[200:]))

        thread = threading.Thread(target=second_writer)
        thread.start()
        assert holding.wait(10)
        first.commit()  # the second writer is blocked on these ids until now
        first.close()
        thread.join(30)
        assert [(r.inserted, r.duplicates) for r in results] == [(400, 0), (200, 200)]
        with sessions.begin() as session:
            assert count_outcomes(session) == 600
            assert sum(row.requests for row in rollup_rows(session).values()) == 600


def test_rollup_minutes_follow_the_arrival_time_in_utc(sessions: sessionmaker[Session]) -> None:
    # 12:00:30, 12:00:59, 12:01:28, 12:01:57 UTC, all on version 1, handed over in UTC+2.
    plus_two = timezone(timedelta(hours=2))
    start = (T0 + timedelta(seconds=30)).astimezone(plus_two)
    outcomes = make_outcomes(4, spacing=timedelta(seconds=29), start=start, versions=(1,))
    with sessions.begin() as session:
        store_outcomes(session, outcomes)
        rows = rollup_rows(session)
        latency_counts = session.execute(
            select(RollupHistogramRow.minute, func.sum(RollupHistogramRow.count))
            .where(RollupHistogramRow.metric == "latency")
            .group_by(RollupHistogramRow.minute)
        ).all()
    minute = timedelta(minutes=1)
    assert {key: row.requests for key, row in rows.items()} == {(T0, 1): 2, (T0 + minute, 1): 2}
    assert dict(latency_counts) == {T0: 2, T0 + minute: 2}

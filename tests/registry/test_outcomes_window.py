"""A window's statistics per version, summed from rollups over whole minutes, equal what
numpy computes from the outcomes in that window, and feed `analysis` directly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from analysis import CanaryPolicy, VerdictStatus, judge_canary
from registry.domain import Team
from registry.errors import InvalidInputError
from registry.outcomes import Outcome, WindowStats, store_outcomes, window_stats
from tests.registry.test_outcomes_support import (
    ENDPOINT,
    OTHER_TEAM,
    T0,
    TEAM,
    expected_by_version,
    make_outcomes,
    micros,
    sessions_for,
)

MINUTE = timedelta(minutes=1)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    with sessions_for(db_url) as factory:
        yield factory


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> list[Outcome]:
    """4,000 outcomes 50 ms apart from 12:00:00: minutes 12:00 to 12:03."""
    outcomes = make_outcomes(4000, spacing=timedelta(milliseconds=50))
    with sessions.begin() as session:
        store_outcomes(session, outcomes)
    return outcomes


def stats_for(
    sessions: sessionmaker[Session],
    since: datetime,
    until: datetime,
    team: Team = TEAM,
    endpoint: int = ENDPOINT,
) -> dict[int, WindowStats]:
    with sessions.begin() as session:
        return window_stats(session, team, endpoint, since, until)


def test_a_window_counts_the_whole_minutes_from_since_to_until(
    sessions: sessionmaker[Session], stored: list[Outcome]
) -> None:
    # Seconds are dropped: [12:01:40, 12:03:05) covers the minutes 12:01 and 12:02.
    found = stats_for(sessions, T0 + timedelta(seconds=100), T0 + timedelta(seconds=185))
    inside = [o for o in stored if T0 + MINUTE <= o.at < T0 + 3 * MINUTE]
    expected = expected_by_version(inside)
    assert set(found) == {1, 2}
    for version, want in expected.items():
        got = found[version]
        assert got.requests == want.requests == got.errors.n
        assert got.errors.successes == want.requests - want.successes
        assert dict(got.errors_by_class) == dict(want.errors)
        assert (got.input_tokens, got.output_tokens) == (want.input_tokens, want.output_tokens)
        assert got.cached_input_tokens == want.cached_input_tokens
        assert got.cost_micro_usd == want.cost_micro_usd
        costs = [o.cost_micro_usd for o in inside if o.model_version_id == version]
        assert (got.cost_per_request.n, got.cost_per_request.sum) == (len(costs), sum(costs))
        assert got.cost_per_request.sum_sq == sum(c * c for c in costs)
        latencies = np.array(want.latencies_ms)
        assert got.latency_ms.n == latencies.size
        assert got.latency_ms.mean == pytest.approx(latencies.mean(), rel=1e-12)
        assert got.latency_ms.variance == pytest.approx(latencies.var(ddof=1), rel=1e-9)
        assert got.ttft_ms.mean == pytest.approx(np.mean(want.ttfts_ms), rel=1e-12)
        assert got.ttft_histogram.n == len(want.ttfts_ms)
        qualities = [
            o.quality for o in inside if o.model_version_id == version and o.quality is not None
        ]
        assert got.quality.n == len(qualities)
        assert got.quality.mean == pytest.approx(np.mean(qualities), rel=1e-12)
        assert set(got.metrics) == set(want.metrics)
        for name, values in want.metrics.items():
            assert (got.metrics[name].n, got.metrics[name].sum) == (len(values), sum(values))


def test_a_window_in_another_time_zone_means_the_same_instants(
    sessions: sessionmaker[Session], stored: list[Outcome]
) -> None:
    utc = stats_for(sessions, T0 + MINUTE, T0 + 3 * MINUTE)
    east = timezone(timedelta(hours=5, minutes=30))
    shifted = stats_for(
        sessions, (T0 + MINUTE).astimezone(east), (T0 + 3 * MINUTE).astimezone(east)
    )
    assert shifted == utc


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_quantiles_from_the_histogram_are_within_their_bucket_of_the_true_ones(
    sessions: sessionmaker[Session], stored: list[Outcome], q: float
) -> None:
    found = stats_for(sessions, T0, T0 + 10 * MINUTE)
    for version, stats in found.items():
        latencies = [micros(o.latency_ms) / 1000 for o in stored if o.model_version_id == version]
        true = float(np.quantile(latencies, q, method="inverted_cdf"))  # percentile_disc
        estimate = stats.latency_histogram.quantile(q)
        assert estimate is not None
        assert estimate.low_ms <= true < estimate.high_ms
        assert abs(estimate.estimate_ms - true) / true < estimate.relative_error <= 0.1 + 1e-12


def test_other_teams_and_endpoints_see_nothing(
    sessions: sessionmaker[Session], stored: list[Outcome]
) -> None:
    window = (T0, T0 + 10 * MINUTE)
    assert stats_for(sessions, *window, team=OTHER_TEAM) == {}
    assert stats_for(sessions, *window, endpoint=ENDPOINT + 1) == {}
    assert stats_for(sessions, T0 + 10 * MINUTE, T0 + 20 * MINUTE) == {}


def test_window_stats_feed_a_canary_judgment(
    sessions: sessionmaker[Session], stored: list[Outcome]
) -> None:
    found = stats_for(sessions, T0, T0 + 10 * MINUTE)
    verdict = judge_canary(
        found[1].arm_stats(),
        found[2].arm_stats(),
        CanaryPolicy(min_samples=100, max_error_rate_increase=0.05, max_latency_increase_ratio=0.5),
    )
    # Both versions draw from one distribution: no failure can be shown.
    assert verdict.status is not VerdictStatus.FAIL


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        (T0, T0 + timedelta(seconds=59), "until"),  # no whole minute
        (T0 + MINUTE, T0, "until"),
        (datetime(2026, 12, 1, 12, 0), T0 + MINUTE, "since"),  # naive
        (T0, datetime(2026, 12, 1, 13, 0), "until"),
    ],
)
def test_a_window_that_holds_no_minute_is_refused(
    sessions: sessionmaker[Session], since: datetime, until: datetime, field: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        stats_for(sessions, since, until)
    assert raised.value.field == field


def test_an_empty_database_gives_an_empty_window(sessions: sessionmaker[Session]) -> None:
    assert stats_for(sessions, T0, datetime(2026, 12, 2, tzinfo=UTC)) == {}

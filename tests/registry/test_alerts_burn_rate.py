"""Multi-window, multi-burn-rate SLO alerts (SRE workbook, "Alerting on SLOs", table 5-8):
a pair fires only when both of its windows burn the error budget faster than its factor.

Objective 99% (budget 1%), 25 requests a minute. Burn rate = error rate / 1%, so the
expected pairs below follow from the series by hand:
- 14.4x over 1h and 5m: both windows above 14.4% errors;
- 6x over 6h and 30m: both above 6%;
- 1x over 3d and 6h: both above 1%.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from registry.alerts.repository import AlertRepository
from tests.registry.alerts_support import MINUTE, T0, Alerting, alerting

__all__ = ["alerting"]

SLO = {"name": "availability", "kind": "burn_rate", "objective": 0.99, "min_samples": 10}
PER_MINUTE = 25


def _series(*runs: tuple[int, int]) -> list[tuple[timedelta, int]]:
    """(minutes, errors per minute) runs, one after the other, from T0."""
    minutes, offset = [], 0
    for length, errors in runs:
        minutes += [(MINUTE * (offset + i), errors) for i in range(length)]
        offset += length
    return minutes


def _firing_pairs(alerting: Alerting, runs: list[tuple[int, int]]) -> dict[str, float]:
    """The pairs firing at the end of the series, with the burn rate each reports."""
    alerting.set_rules(SLO)
    series = _series(*runs)
    alerting.plant_series([(T0 + at, PER_MINUTE, errors) for at, errors in series])
    report = alerting.evaluate(T0 + series[-1][0] + MINUTE)
    assert report.evaluated
    with alerting.sessions() as session:
        alerts = AlertRepository(session, alerting.team).list()
    fired = {
        alert.labels["window"]: alert.value or 0 for alert in alerts if alert.state == "firing"
    }
    shown = ", ".join(f"{length} min at {errors}/{PER_MINUTE} errors" for length, errors in runs)
    burns = ", ".join(f"{pair} {burn:.3g}x" for pair, burn in sorted(fired.items())) or "none"
    print(f"\nburn-rate series {shown}: pairs firing {burns}")  # the figures, for `pytest -s`
    return fired


def test_a_fast_burn_trips_the_1h_pair_but_not_the_6h_pair(alerting: Alerting) -> None:
    # 5 clean hours, then an hour at 20%: 1h and 5m burn 20x (> 14.4); 6h burns
    # 3.33x (< 6, though its 30m burns 20x); 3d and 6h burn 3.33x (> 1).
    fired = _firing_pairs(alerting, [(300, 0), (60, 5)])
    assert fired == {"1h/5m": pytest.approx(20.0), "3d/6h": pytest.approx(10 / 3, abs=1e-3)}


def test_a_slow_burn_trips_the_6h_pair_but_not_the_1h_pair(alerting: Alerting) -> None:
    # Six hours at 8%: 8x everywhere, above 6 and 1 but below 14.4.
    fired = _firing_pairs(alerting, [(360, 2)])
    assert fired == {"6h/30m": pytest.approx(8.0), "3d/6h": pytest.approx(8.0)}


def test_a_long_window_over_the_factor_does_not_fire_while_the_short_one_is_clean(
    alerting: Alerting,
) -> None:
    # 50 minutes at 24%, then 10 clean: the 1h window burns 20x but the last 5m 0x, so the
    # burst is over and 1h/5m stays quiet. The 30m window still burns 16x (> 6).
    fired = _firing_pairs(alerting, [(50, 6), (10, 0)])
    assert fired == {"6h/30m": pytest.approx(16.0), "3d/6h": pytest.approx(20.0)}


def test_a_short_spike_does_not_fire_while_the_long_window_is_under_the_factor(
    alerting: Alerting,
) -> None:
    # 55 clean minutes, then 5 at 52%: the 5m window burns 52x but the hour only 4.33x.
    fired = _firing_pairs(alerting, [(55, 0), (5, 13)])
    assert fired == {"3d/6h": pytest.approx(13 / 3, abs=1e-3)}


def test_a_short_window_with_fewer_requests_than_min_samples_does_not_fire(
    alerting: Alerting,
) -> None:
    # An hour of 5 requests a minute, all failing: 25 requests in 5m (< 50), 150 in 30m.
    alerting.set_rules(SLO | {"min_samples": 50})
    alerting.plant_series([(T0 + MINUTE * i, 5, 5) for i in range(60)])
    alerting.evaluate(T0 + 60 * MINUTE)
    with alerting.sessions() as session:
        alerts = AlertRepository(session, alerting.team).list()
    assert {alert.labels["window"] for alert in alerts} == {"6h/30m", "3d/6h"}


def test_each_pair_carries_its_own_severity(alerting: Alerting) -> None:
    # Pages for the fast pairs, a ticket for the slow one (the workbook's split).
    _firing_pairs(alerting, [(360, 2)])
    with alerting.sessions() as session:
        alerts = AlertRepository(session, alerting.team).list()
    assert {alert.labels["window"]: alert.severity.value for alert in alerts} == {
        "6h/30m": "critical",
        "3d/6h": "warning",
    }

"""Threshold rules end to end on PostgreSQL: outcomes planted minute by minute, the monitor's
evaluation each minute, deliveries to real receivers on 127.0.0.1 that verify signatures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest

from registry.alerts.channel_spec import new_webhook_secret
from registry.alerts.domain import AlertState
from registry.alerts.repository import AlertRepository
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.registry.alerts_support import MINUTE, T0, Alerting, minutes, open_alerting


@pytest.fixture
def alerting(db_url: str) -> Iterator[Alerting]:
    """On PostgreSQL and on SQLite (the embedded default): behaviour must match."""
    yield from open_alerting(db_url)


ERROR_RATE = {
    "name": "error-rate",
    "kind": "threshold",
    "severity": "critical",
    "metric": "error_rate",
    "above": 0.05,
    "window": "1m",
    "for": "3m",
    "min_samples": 20,
}


def _types(receiver: WebhookReceiver) -> list[str]:
    return [json.loads(delivery.body)["type"] for delivery in receiver.deliveries]


def _run_minutes(alerting: Alerting, start: datetime, count: int) -> None:
    for at in minutes(start, count):
        alerting.run(at)


def test_a_burst_longer_than_for_notifies_each_channel_once_and_resolves_where_asked(
    alerting: Alerting,
) -> None:
    alerting.set_rules(ERROR_RATE)
    secret = new_webhook_secret()
    with WebhookReceiver(secret) as first, WebhookReceiver() as quiet:
        alerting.add_channel("oncall", first.hook_url, secret=secret)
        alerting.add_channel("audit", quiet.hook_url, send_resolved=False)
        for minute in minutes(T0, 30):
            burst = T0 + 10 * MINUTE <= minute < T0 + 18 * MINUTE  # 8 bad minutes
            blip = T0 + 3 * MINUTE <= minute < T0 + 5 * MINUTE  # 2 bad minutes: shorter than `for`
            alerting.plant(minute, 100, 30 if burst or blip else 0)
        _run_minutes(alerting, T0 + MINUTE, 30)

        assert _types(first) == ["alert.firing", "alert.resolved"]
        assert _types(quiet) == ["alert.firing"]
        assert first.refused == []
    firing = json.loads(first.deliveries[0].body)["data"]["alert"]
    # Pending from the window ending 12:11, firing 3 minutes later, resolved at the first
    # clean window (12:19: the minute 12:18 is clean again).
    with alerting.sessions() as session:
        [alert] = AlertRepository(session, alerting.team).list(include_resolved=True)[:1]
        every = AlertRepository(session, alerting.team).list(include_resolved=True)
    assert alert.state is AlertState.RESOLVED
    assert alert.fired_at == T0 + 14 * MINUTE
    assert alert.resolved_at == T0 + 19 * MINUTE
    assert alert.count == 8  # the evaluations that saw the condition
    assert firing["labels"] == {
        "alertname": "error-rate",
        "model": "support-intent",
        "endpoint": "support-intent-prod",
        "version": "1",
    }
    assert firing["value"] == pytest.approx(0.30)
    # The blip opened a pending alert that never fired, and told nobody.
    blip = [a for a in every if a.fired_at is None]
    assert [(a.first_seen_at, a.state) for a in blip] == [(T0 + 4 * MINUTE, AlertState.RESOLVED)]


# Bad minutes: 12:10, 12:13, 12:17 (gaps of 2 and 3 clean minutes), then clean for good.
FLAPPING = {10, 13, 17}


def _flap(alerting: Alerting, keep_firing_for: str) -> list[str]:
    rule = ERROR_RATE | {"for": "0", "keep_firing_for": keep_firing_for}
    alerting.set_rules(rule)
    with WebhookReceiver() as hooks:
        alerting.add_channel("oncall", hooks.hook_url)
        for minute in minutes(T0, 30):
            alerting.plant(minute, 100, 30 if (minute - T0) // MINUTE in FLAPPING else 0)
        seen = []
        for at in minutes(T0 + MINUTE, 30):
            alerting.run(at)
            seen += [f"{at:%H:%M} {kind}" for kind in _types(hooks)[len(seen) :]]
    return seen


def test_flapping_inside_keep_firing_for_sends_nothing_until_it_has_stayed_clear(
    alerting: Alerting,
) -> None:
    # Firing from the window ending 12:11; clear from the one ending 12:19 (12:18 is clean),
    # resolved 5 minutes of clear windows later.
    assert _flap(alerting, "5m") == ["12:11 alert.firing", "12:24 alert.resolved"]
    with alerting.sessions() as session:
        [alert] = AlertRepository(session, alerting.team).list(include_resolved=True)
    assert alert.count == 3


def test_without_keep_firing_for_the_same_flapping_fires_three_times(alerting: Alerting) -> None:
    """The control for the test above: the hysteresis is what kept it quiet."""
    assert _flap(alerting, "0") == [
        "12:11 alert.firing",
        "12:12 alert.resolved",
        "12:14 alert.firing",
        "12:15 alert.resolved",
        "12:18 alert.firing",
        "12:19 alert.resolved",
    ]

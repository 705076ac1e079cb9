"""Escalation and acknowledgement: an alert nobody acknowledges reaches the next level after
the rule's delay; an acknowledgement holds it back and expires back to firing."""

from __future__ import annotations

import json
from datetime import datetime

from registry.alerts.repository import AlertRepository
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.registry.alerts_support import MINUTE, T0, Alerting, alerting, minutes

__all__ = ["alerting"]

RULE = {
    "name": "errors",
    "kind": "threshold",
    "severity": "critical",
    "metric": "error_rate",
    "above": 0.1,
    "window": "1m",
    "escalation": ["10m"],
    "ack_timeout": "15m",
}


def _told(hooks: WebhookReceiver) -> list[tuple[str, str]]:
    return [
        (json.loads(d.body)["type"], json.loads(d.body)["data"]["reason"]) for d in hooks.deliveries
    ]


def _ack(alerting: Alerting, at: datetime, **options: int) -> None:
    with alerting.sessions.begin() as session:
        alerts = AlertRepository(session, alerting.team, clock=lambda: at)
        [alert] = alerts.list()
        alerts.acknowledge(alert.id, "ann", **options)


def _failing(alerting: Alerting, count: int) -> None:
    alerting.plant_series([(minute, 100, 50) for minute in minutes(T0, count)])


def test_an_unacknowledged_alert_escalates_to_the_next_level_after_the_delay(
    alerting: Alerting,
) -> None:
    alerting.set_rules(RULE)
    _failing(alerting, 30)
    with WebhookReceiver() as first, WebhookReceiver() as manager:
        alerting.add_channel("oncall", first.hook_url)
        alerting.add_channel("manager", manager.hook_url, level=2)
        for at in minutes(T0 + MINUTE, 10):  # 12:01 ... 12:10
            alerting.run(at)
        assert _told(first) == [("alert.firing", "first firing")]
        assert manager.deliveries == []
        alerting.run(T0 + 11 * MINUTE)  # ten minutes after it fired
        assert _told(manager) == [
            ("alert.firing", "escalated to level 2: not acknowledged in time")
        ]
        for at in minutes(T0 + 12 * MINUTE, 10):
            alerting.run(at)
        assert len(first.deliveries) == 1 and len(manager.deliveries) == 1
    with alerting.sessions() as session:
        [alert] = AlertRepository(session, alerting.team).list()
    assert alert.level == 2  # no level 3: the rule names one delay


def test_an_acknowledged_alert_does_not_escalate_and_fires_again_when_its_ack_expires(
    alerting: Alerting,
) -> None:
    alerting.set_rules(RULE)
    _failing(alerting, 40)
    with WebhookReceiver() as first, WebhookReceiver() as manager:
        alerting.add_channel("oncall", first.hook_url)
        alerting.add_channel("manager", manager.hook_url, level=2)
        for at in minutes(T0 + MINUTE, 5):  # fires at 12:01
            alerting.run(at)
        _ack(alerting, T0 + 5 * MINUTE + MINUTE / 2)  # 12:05:30, for the rule's 15m
        for at in minutes(T0 + 6 * MINUTE, 15):  # 12:06 ... 12:20
            alerting.run(at)
        # 12:11 passed without escalation: it was acknowledged.
        assert manager.deliveries == []
        assert _told(first) == [
            ("alert.firing", "first firing"),
            ("alert.acknowledged", "acknowledged by ann"),
        ]
        # The acknowledgement ran out at 12:20:30; the 12:21 evaluation sees it expired.
        alerting.run(T0 + 21 * MINUTE)
        assert _told(first)[2:] == [
            ("alert.firing", "its acknowledgement expired and it still fires")
        ]
        # Escalation starts over from there: ten more minutes to level 2.
        for at in minutes(T0 + 22 * MINUTE, 9):
            alerting.run(at)
        assert manager.deliveries == []
        alerting.run(T0 + 31 * MINUTE)
        assert [kind for kind, _ in _told(manager)] == ["alert.firing"]
        assert len(first.deliveries) == 3


def test_an_acknowledgement_for_a_given_time_overrides_the_rule(alerting: Alerting) -> None:
    alerting.set_rules(RULE)
    _failing(alerting, 2)
    alerting.evaluate(T0 + MINUTE)
    _ack(alerting, T0 + MINUTE, for_seconds=7200)
    with alerting.sessions() as session:
        [alert] = AlertRepository(session, alerting.team).list()
    assert alert.ack_until == T0 + MINUTE + 120 * MINUTE

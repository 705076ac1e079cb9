"""The send rules, channel by channel: severity filters, repeats while firing, resolving by
hand, and the Slack and PagerDuty channels end to end (real receivers on 127.0.0.1)."""

from __future__ import annotations

import json

from registry.alerts.domain import ChannelKind
from registry.alerts.repository import AlertRepository
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.registry.alerts_support import MINUTE, T0, Alerting, alerting, minutes

__all__ = ["alerting"]

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


def _rule(severity: str = "warning") -> dict[str, object]:
    return {
        "name": "errors",
        "kind": "threshold",
        "severity": severity,
        "metric": "error_rate",
        "above": 0.1,
        "window": "1m",
    }


def _types(hooks: WebhookReceiver) -> list[str]:
    return [json.loads(d.body).get("type", "pagerduty") for d in hooks.deliveries]


def _resolve_by_hand(alerting: Alerting, actor: str = "ann") -> None:
    with alerting.sessions.begin() as session:
        alerts = AlertRepository(session, alerting.team)
        [alert] = alerts.list()
        alerts.resolve(alert.id, actor)


def test_a_channel_hears_only_the_severities_it_takes(alerting: Alerting) -> None:
    alerting.set_rules(_rule("warning"))
    alerting.plant(T0, 100, 50)
    with WebhookReceiver() as pager, WebhookReceiver() as everything:
        alerting.add_channel("pager", pager.hook_url, severities=["critical"])
        alerting.add_channel("all", everything.hook_url)
        alerting.run(T0 + MINUTE)
        assert pager.deliveries == []
        assert _types(everything) == ["alert.firing"]


def test_a_firing_alert_is_repeated_after_the_channels_interval_until_acknowledged(
    alerting: Alerting,
) -> None:
    alerting.set_rules(_rule())
    alerting.plant_series([(minute, 100, 50) for minute in minutes(T0, 40)])
    with WebhookReceiver() as hooks:
        alerting.add_channel("oncall", hooks.hook_url, repeat_interval_seconds=600)
        for at in minutes(T0 + MINUTE, 25):  # fires at 12:01; repeats at 12:11 and 12:21
            alerting.run(at)
        reasons = [json.loads(d.body)["data"]["reason"] for d in hooks.deliveries]
        with alerting.sessions.begin() as session:
            [alert] = AlertRepository(session, alerting.team).list()
            AlertRepository(session, alerting.team, clock=lambda: T0 + 26 * MINUTE).acknowledge(
                alert.id, "ann", for_seconds=3600
            )
        for at in minutes(T0 + 26 * MINUTE, 12):  # acknowledged: no repeat at 12:31
            alerting.run(at)
        later = _types(hooks)[3:]
    assert reasons == ["first firing", "still firing after 10m", "still firing after 20m"]
    assert later == ["alert.acknowledged"]


def test_resolving_by_hand_tells_the_channels_that_heard_it_fire(alerting: Alerting) -> None:
    alerting.set_rules(_rule())
    alerting.plant_series([(minute, 100, 50) for minute in minutes(T0, 3)])
    with WebhookReceiver() as told, WebhookReceiver() as late:
        alerting.add_channel("oncall", told.hook_url)
        alerting.run(T0 + MINUTE)
        alerting.add_channel("audit", late.hook_url, events=["alert.resolved"])
        _resolve_by_hand(alerting)
        alerting.run(T0 + 2 * MINUTE)  # the condition still holds: a new alert opens
        bodies = [json.loads(d.body) for d in told.deliveries]
        assert late.deliveries == []  # it never heard the first alert fire
    assert [(b["type"], b["data"]["reason"]) for b in bodies] == [
        ("alert.firing", "first firing"),
        ("alert.resolved", "resolved by ann"),
        ("alert.firing", "first firing"),
    ]
    assert bodies[0]["data"]["alert"]["id"] == bodies[1]["data"]["alert"]["id"]
    assert bodies[2]["data"]["alert"]["id"] != bodies[0]["data"]["alert"]["id"]
    assert bodies[2]["data"]["alert"]["fingerprint"] == bodies[0]["data"]["alert"]["fingerprint"]


def test_pagerduty_triggers_acknowledges_and_resolves_one_incident(alerting: Alerting) -> None:
    alerting.set_rules(_rule("critical"))
    alerting.plant_series([(minute, 100, 50) for minute in minutes(T0, 3)])
    with WebhookReceiver() as events_api:
        alerting.add_channel(
            "pager", events_api.hook_url, kind=ChannelKind.PAGERDUTY, secret=ROUTING_KEY
        )
        alerting.run(T0 + MINUTE)
        with alerting.sessions.begin() as session:
            [alert] = AlertRepository(session, alerting.team).list()
            AlertRepository(session, alerting.team).acknowledge(alert.id, "ann")
        alerting.run(T0 + 2 * MINUTE)
        alerting.run(T0 + 4 * MINUTE)  # 12:03 has no traffic: resolved
        sent = [json.loads(d.body) for d in events_api.deliveries]
    assert [(e["event_action"], e["routing_key"]) for e in sent] == [
        ("trigger", ROUTING_KEY),
        ("acknowledge", ROUTING_KEY),
        ("resolve", ROUTING_KEY),
    ]
    assert len({e["dedup_key"] for e in sent}) == 1
    assert sent[0]["payload"]["severity"] == "critical"
    assert "webhook-signature" not in events_api.deliveries[0].headers


def test_slack_hears_the_firing_but_not_the_resolution_by_default(alerting: Alerting) -> None:
    alerting.set_rules(_rule())
    alerting.plant(T0, 100, 50)
    with WebhookReceiver() as slack:
        url = f"{slack.url}/hooks/T000-B000-XXXXXXXX"
        alerting.add_channel("chat", None, kind=ChannelKind.SLACK, secret=url)
        alerting.run(T0 + MINUTE)
        alerting.run(T0 + 2 * MINUTE)  # resolved
        [message] = [json.loads(d.body) for d in slack.deliveries]
    assert set(message) == {"text"}
    assert message["text"].startswith("[FIRING] warning errors on support-intent-prod v1: ")

"""What else raises alerts: the key pool (every key unusable; a key a 401 disabled), events
flows emit (notices to the channels that subscribe, and event rules); and the fingerprint."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from adapters.errors import AuthenticationError, PermissionDeniedError
from registry.alerts.domain import AlertState
from registry.alerts.events import emit
from registry.alerts.fingerprint import fingerprint, signature
from registry.alerts.repository import AlertRepository
from registry.alerts.tables import AlertEventRow
from registry.errors import InvalidInputError
from registry.keys.domain import KeyOutcome
from registry.keys.pool import KeyPool
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.registry.alerts_support import MINUTE, T0, Alerting, alerting

__all__ = ["alerting"]


def test_the_fingerprint_is_alertmanagers() -> None:
    # prometheus/common model/signature_test.go, TestLabelsToSignature.
    assert signature({}) == 14695981039346656037
    assert signature({"name": "garland, briggs", "fear": "love is not enough"}) == (
        5799056148416392346
    )
    assert fingerprint({"b": "2", "a": "1"}) == fingerprint({"a": "1", "b": "2"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "1", "b": ""})


def _open(alerting: Alerting) -> list[tuple[str, str, dict[str, str]]]:
    with alerting.sessions() as session:
        alerts = AlertRepository(session, alerting.team).list()
    return [(a.rule, a.state.value, a.labels) for a in alerts]


def _keys(alerting: Alerting, *labels: str) -> tuple[KeyPool, list[int]]:
    with alerting.sessions.begin() as session:
        pool = KeyPool(session, alerting.team, alerting.ring, clock=lambda: T0)
        ids = [pool.add("local", label, f"sk-test-{label}-0000000000000000").id for label in labels]
    return pool, ids


def _fail(alerting: Alerting, key_id: int, outcome: KeyOutcome, **fields: object) -> None:
    with alerting.sessions.begin() as session:
        KeyPool(session, alerting.team, alerting.ring, clock=lambda: T0).record_failure(
            key_id,
            outcome,
            **fields,  # type: ignore[arg-type]
        )


def test_a_pool_with_every_key_cooling_or_disabled_fires_and_resolves_when_one_frees(
    alerting: Alerting,
) -> None:
    alerting.set_rules({"name": "keys-gone", "kind": "key_pool", "condition": "exhausted"})
    _, (first, second) = _keys(alerting, "a", "b")
    _fail(alerting, first, KeyOutcome.RATE_LIMITED, retry_after=600)  # cooling until T0+10m
    alerting.evaluate(T0 + MINUTE)
    assert _open(alerting) == []  # one key still usable
    _fail(alerting, second, KeyOutcome.KEY_SCOPED, reason="revoked")
    alerting.evaluate(T0 + 2 * MINUTE)
    assert _open(alerting) == [
        (
            "keys-gone",
            "firing",
            {"alertname": "keys-gone", "model": "support-intent", "provider": "local"},
        )
    ]
    alerting.evaluate(T0 + 11 * MINUTE)  # the cooldown ran out
    assert _open(alerting) == []


def test_a_key_disabled_by_a_401_fires_naming_the_key_and_a_403_does_not(
    alerting: Alerting,
) -> None:
    alerting.set_rules({"name": "bad-key", "kind": "key_pool", "condition": "unauthorized"})
    _, (first, second, _) = _keys(alerting, "prod-1", "prod-2", "prod-3")
    unauthorized = AuthenticationError(
        "Incorrect API key provided", provider="local", status_code=401
    )
    forbidden = PermissionDeniedError("Forbidden", provider="local", status_code=403)
    _fail(alerting, first, KeyOutcome.KEY_SCOPED, reason=str(unauthorized))
    _fail(alerting, second, KeyOutcome.KEY_SCOPED, reason=str(forbidden))
    alerting.evaluate(T0 + MINUTE)
    [(rule, state, labels)] = _open(alerting)
    assert (rule, state, labels["key"], labels["provider"]) == (
        "bad-key",
        "firing",
        "prod-1",
        "local",
    )
    with alerting.sessions.begin() as session:
        KeyPool(session, alerting.team, alerting.ring).enable(first)
    alerting.evaluate(T0 + 2 * MINUTE)
    assert _open(alerting) == []


@pytest.mark.parametrize(
    ("kind", "severity", "labels", "message"),
    [
        (
            "rollout.rollback",
            "critical",
            {},
            "'rollout.rollback' is not a known event (did you mean 'rollout.rolled_back'?)",
        ),
        (
            "rollout.rolled_back",
            "page",
            {},
            "severity 'page' is not one of critical, error, warning, info",
        ),
        ("rollout.rolled_back", "critical", {"Model": "x"}, "labels: 'Model' is not a name"),
        ("rollout.rolled_back", "critical", {"model": "x" * 300}, "labels.model: at most 256"),
        (
            "rollout.rolled_back",
            "critical",
            {"model": "\x1b[31m"},
            "labels.model: at most 256 printable",
        ),
    ],
)
def test_emit_refuses_bad_events_precisely(
    alerting: Alerting, kind: str, severity: str, labels: dict[str, str], message: str
) -> None:
    with alerting.sessions.begin() as session, pytest.raises(InvalidInputError) as caught:
        emit(session, alerting.team, kind, severity, labels)
    assert message in str(caught.value)
    with alerting.sessions() as session:
        assert session.scalars(select(AlertEventRow)).all() == []


def test_an_event_is_told_once_to_the_channels_that_subscribe_to_it(alerting: Alerting) -> None:
    with WebhookReceiver() as subscribed, WebhookReceiver() as alerts_only:
        alerting.add_channel("releases", subscribed.hook_url, events=["model.*"])
        alerting.add_channel("oncall", alerts_only.hook_url)
        with alerting.sessions.begin() as session:
            emit(
                session,
                alerting.team,
                "model.promoted",
                "info",
                {"model": "support-intent", "version": "2", "stage": "production"},
                {"summary": "support-intent v2 moved staging -> production; approved by alice"},
                at=T0,
            )
        for minute in range(1, 4):
            alerting.run(T0 + minute * MINUTE)
        [notice] = subscribed.deliveries
        assert alerts_only.deliveries == []
    body = json.loads(notice.body)
    assert body["type"] == "model.promoted"
    assert body["data"]["event"]["labels"]["version"] == "2"
    assert body["data"]["event"]["annotations"]["summary"].startswith("support-intent v2 moved")


def test_an_event_rule_fires_on_a_rollback_and_resolves_after_keep_firing_for(
    alerting: Alerting,
) -> None:
    alerting.set_rules(
        {
            "name": "rolled-back",
            "kind": "event",
            "events": ["rollout.rolled_back"],
            "severity": "critical",
        }
    )
    alerting.evaluate(T0)
    labels = {"model": "support-intent", "endpoint": "support-intent-prod", "rollout": "12"}
    with alerting.sessions.begin() as session:
        emit(session, alerting.team, "rollout.rolled_back", "critical", labels, at=T0 + MINUTE / 2)
        emit(
            session,
            alerting.team,
            "rollout.rolled_back",
            "critical",
            labels | {"model": "other"},
            at=T0 + MINUTE / 2,
        )
    alerting.evaluate(T0 + MINUTE)
    [(rule, state, seen)] = _open(alerting)
    assert (rule, state) == ("rolled-back", "firing")
    assert seen == {"alertname": "rolled-back", "event": "rollout.rolled_back"} | labels
    for minute in range(2, 62):  # clear from 12:02 on
        alerting.evaluate(T0 + minute * MINUTE)
    assert [state for _, state, _ in _open(alerting)] == ["firing"]  # kept firing for 1h
    alerting.evaluate(T0 + 62 * MINUTE)
    assert _open(alerting) == []
    with alerting.sessions() as session:
        [alert] = AlertRepository(session, alerting.team).list(include_resolved=True)
    assert alert.state is AlertState.RESOLVED and alert.resolved_at == T0 + 62 * MINUTE
    assert alert.fired_at == T0 + MINUTE and alert.count == 1

"""Delivery to real receivers on 127.0.0.1 with scripted answers: 5xx and 429 are retried
with backoff (Retry-After honoured), other 4xx never, a 410 disables the channel; each
notification is accepted once. The clock is the test's: sleeping moves it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from registry.alerts.channels import ChannelRepository
from registry.alerts.delivery import MAX_ATTEMPTS, RETRY_DELAYS_SECONDS
from registry.alerts.domain import ChannelStatus
from registry.alerts.repository import AlertRepository
from tests.fakes.server import Fault, refusing_port
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.registry.alerts_support import MINUTE, T0, Alerting, open_alerting


@pytest.fixture
def alerting(db_url: str) -> Iterator[Alerting]:
    """On PostgreSQL and on SQLite (the embedded default): behaviour must match."""
    yield from open_alerting(db_url)


RULE = {"name": "errors", "kind": "threshold", "metric": "error_rate", "above": 0.1, "window": "1m"}


def _fire(alerting: Alerting, minutes: int = 1) -> None:
    """One alert that fires at the evaluation ending T0 + 1 minute, for `minutes`."""
    alerting.set_rules(RULE)
    alerting.plant_series([(T0 + MINUTE * i, 100, 50) for i in range(minutes)])


def test_a_receiver_that_answers_500_then_200_gets_the_notification_once(
    alerting: Alerting,
) -> None:
    _fire(alerting)
    with WebhookReceiver() as hooks:
        alerting.add_channel("oncall", hooks.hook_url)
        hooks.script(None, Fault.server_error())
        _, delivered = alerting.run(T0 + MINUTE)
        attempts = [r.headers["webhook-id"] for r in hooks.requests]
        accepted = hooks.ids
    assert len(attempts) == 2 and attempts[0] == attempts[1]  # the same message, twice sent
    assert accepted == attempts[:1]
    assert alerting.clock.slept == [RETRY_DELAYS_SECONDS[0]]  # waited in the run, by the clock
    assert (delivered.attempts, delivered.delivered, delivered.waiting) == (2, 1, 1)
    [row] = alerting.notifications()
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 204)


def test_a_410_disables_the_channel_with_the_reason_and_nothing_more_is_sent(
    alerting: Alerting,
) -> None:
    _fire(alerting, minutes=2)
    with WebhookReceiver() as hooks:
        url = hooks.hook_url
        alerting.add_channel("oncall", url)
        hooks.always(None, Fault(status=410, message="this hook was deleted"))
        _, delivered = alerting.run(T0 + MINUTE)
        alerting.run(T0 + 2 * MINUTE)
        alerting.run(T0 + 3 * MINUTE)  # resolved: its notice is not planned for a dead channel
        with alerting.sessions() as session:
            stopped = ChannelRepository(session, alerting.team).get("oncall")
        assert len(hooks.requests) == 1
    assert delivered.disabled_channels == ["oncall"] and delivered.failed == 1
    assert stopped.status is ChannelStatus.DISABLED
    assert stopped.disabled_reason is not None
    assert stopped.disabled_reason.startswith(f"HTTP 410 from {url}: this hook was deleted at ")
    assert stopped.disabled_reason.endswith("`modelops channels enable oncall`")
    [row] = alerting.notifications()
    assert (row.status, row.last_status_code) == ("failed", 410)


def test_a_400_is_not_retried(alerting: Alerting) -> None:
    _fire(alerting)
    with WebhookReceiver() as hooks:
        url = hooks.hook_url
        alerting.add_channel("oncall", url)
        hooks.script(None, Fault(status=400, message="unknown field"))
        alerting.run(T0 + MINUTE)
        alerting.clock.now += MINUTE * 60
        alerting.deliver()
        assert len(hooks.requests) == 1
    [row] = alerting.notifications()
    assert row.status == "failed"
    assert row.last_error == (
        f"not retried (the receiver refused it): HTTP 400 from {url}: unknown field"
    )


def test_a_429_waits_for_its_retry_after_then_delivers_in_a_later_run(
    alerting: Alerting,
) -> None:
    _fire(alerting, minutes=3)
    with WebhookReceiver() as hooks:
        alerting.add_channel("oncall", hooks.hook_url)
        hooks.script(None, Fault(status=429, headers={"retry-after": "120"}))
        _, first = alerting.run(T0 + MINUTE)
        [waiting] = alerting.notifications()
        alerting.run(T0 + 2 * MINUTE)  # 60 s later: still not due
        assert len(hooks.requests) == 1
        _, later = alerting.run(T0 + 3 * MINUTE)
        assert len(hooks.ids) == 1
    assert alerting.clock.slept == []  # 120 s is beyond what a run waits for
    assert waiting.next_attempt_at == T0 + MINUTE + 2 * MINUTE
    assert (first.waiting, later.delivered) == (1, 1)


def test_a_receiver_that_never_answers_is_given_up_after_the_schedule(
    alerting: Alerting,
) -> None:
    _fire(alerting)
    with refusing_port() as port:
        alerting.add_channel("oncall", f"http://127.0.0.1:{port}/hooks")
        alerting.run(T0 + MINUTE)
        for delay in RETRY_DELAYS_SECONDS[1:]:
            alerting.clock.now += delay * MINUTE / 60
            alerting.deliver()
    [row] = alerting.notifications()
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert row.last_error is not None
    assert row.last_error.startswith(f"gave up after {MAX_ATTEMPTS} attempts; the last: no answer")


def test_the_webhook_body_is_the_alert_in_standard_webhooks_shape(alerting: Alerting) -> None:
    _fire(alerting)
    with WebhookReceiver() as hooks:
        alerting.add_channel("oncall", hooks.hook_url)
        alerting.run(T0 + MINUTE)
        [delivery] = hooks.deliveries
    body = json.loads(delivery.body)
    assert set(body) == {"type", "timestamp", "data"}
    with alerting.sessions() as session:
        [alert] = AlertRepository(session, alerting.team).list()
    [row] = alerting.notifications()
    assert delivery.headers["webhook-id"] == row.message_id
    assert body["data"]["alert"]["id"] == alert.id
    assert body["data"]["alert"]["fingerprint"] == alert.fingerprint
    assert body["data"]["alert"]["dedup_key"] == f"modelops/default/{alert.fingerprint}/{alert.id}"
    assert body["data"]["alert"]["annotations"]["summary"] == (
        "error_rate 50.00% over 1m (n=100); fires above 10.00%"
    )

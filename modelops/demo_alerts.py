"""The demo's alerting step: an error burst on an endpoint, the catalog's `error-rate` rule
firing once, one signed notification delivered to a local receiver that verifies it, then
the alert resolved once.

`run(traffic)` is handed a function that sends the burst (through the gateway, in the
demo) and returns once its outcomes are stored. The monitor's windows are evaluated back
to back from the burst's minute on, as the scheduled flow would a minute apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from modelops.alert_receiver import AlertReceiver, Received
from registry.alerts.channel_spec import NewChannel, new_webhook_secret
from registry.alerts.channels import ChannelRepository
from registry.alerts.domain import Alert, AlertState, ChannelKind
from registry.alerts.monitor import evaluate_window
from registry.alerts.repository import AlertRepository
from registry.domain import Team
from registry.keys.crypto import MasterKeyring
from registry.orm import utcnow
from tasks.monitor_delivery import deliver_due

CHANNEL = "demo-oncall"
RULE = "error-rate"
MAX_WINDOWS = 15  # the rule's window and `for` are minutes: it must settle well within this
Traffic = Callable[[str], object]


@dataclass(frozen=True)
class AlertsDemo:
    alert: Alert
    received: list[Received]
    refused: list[str]
    windows: list[datetime]


def run(
    traffic: Traffic,
    *,
    sessions: sessionmaker[Session],
    team: Team,
    ring: MasterKeyring,
    endpoint: str = "support-intent-prod",
    say: Callable[[str], None] = print,
) -> AlertsDemo:
    """Send the burst, then evaluate minute by minute until the alert fired and resolved."""
    secret = new_webhook_secret()
    with AlertReceiver(secret) as receiver:
        _add_channel(sessions, team, ring, receiver.url, secret)
        say(f"   channel {CHANNEL}: a signed webhook to {receiver.url} (whsec_ secret on file)")
        start = utcnow().replace(second=0, microsecond=0)
        traffic(endpoint)
        windows, alert, told = [], None, 0
        for step in range(1, MAX_WINDOWS + 1):
            window_end = start + timedelta(minutes=step)
            alert = _evaluate(sessions, team, ring, window_end) or alert
            windows.append(window_end)
            told = _tell(say, receiver.received, told, window_end)
            if alert is not None and alert.state is AlertState.RESOLVED:
                break
        if alert is None or alert.state is not AlertState.RESOLVED:
            raise RuntimeError(
                f"the {RULE} alert did not fire and resolve in {MAX_WINDOWS} windows"
            )
    return AlertsDemo(alert, list(receiver.received), list(receiver.refused), windows)


def _add_channel(
    sessions: sessionmaker[Session], team: Team, ring: MasterKeyring, url: str, secret: str
) -> None:
    with sessions.begin() as session:
        channels = ChannelRepository(session, team, ring)
        new = NewChannel(name=CHANNEL, kind=ChannelKind.WEBHOOK, url=url, secret=SecretStr(secret))
        channels.add(new)


def _evaluate(
    sessions: sessionmaker[Session], team: Team, ring: MasterKeyring, window_end: datetime
) -> Alert | None:
    with sessions.begin() as session:
        evaluate_window(session, team, window_end)
        alerts = AlertRepository(session, team).list(include_resolved=True)
    deliver_due(sessions, ring, clock=lambda: window_end)
    return next((alert for alert in alerts if alert.rule == RULE), None)


def _tell(
    say: Callable[[str], None], received: list[Received], told: int, window_end: datetime
) -> int:
    """Say what arrived since the last `told` messages; returns how many have been told."""
    for message in received[told:]:
        alert = message.data.get("alert", {})
        say(
            f"   {window_end:%H:%M} {message.type}: alert #{alert.get('id')} "
            f"{alert.get('rule')} on {alert.get('labels', {}).get('endpoint')} - "
            f"{alert.get('annotations', {}).get('summary')}; received as {message.id}, "
            "signature verified"
        )
    return len(received)

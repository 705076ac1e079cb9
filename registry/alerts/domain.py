"""What alerting hands out: severities, states, channels, notifications and events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase

from pydantic import Field

from registry.catalog_alerts import EVENT_KINDS
from registry.domain import Frozen


class Severity(StrEnum):
    """PagerDuty Events v2's severities, most urgent first (the catalog's SEVERITIES)."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class AlertState(StrEnum):
    PENDING = "pending"  # the condition holds, not yet for the rule's `for`
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"  # someone is on it; expires back to firing (ack_timeout)
    RESOLVED = "resolved"  # the condition cleared (past keep_firing_for), or resolved by hand

    @property
    def is_open(self) -> bool:
        return self is not AlertState.RESOLVED


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"  # Standard Webhooks: signed with the channel's whsec_ secret
    SLACK = "slack"  # a Slack-compatible incoming webhook; the URL is the secret
    PAGERDUTY = "pagerduty"  # Events API v2; the secret is the routing key


class ChannelStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # the receiver answered 410 Gone, or an operator said so


class NotificationStatus(StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt
    SENDING = "sending"  # claimed by one deliverer until its lease runs out
    DELIVERED = "delivered"
    FAILED = "failed"  # refused (a 4xx other than 429) or out of retries
    SKIPPED = "skipped"  # its channel was disabled before it could go


# What a notification is about: an alert's lifecycle, a flow's event, or a channel test.
ALERT_FIRING = "alert.firing"
ALERT_ACKNOWLEDGED = "alert.acknowledged"
ALERT_RESOLVED = "alert.resolved"
CHANNEL_TEST = "channel.test"
ALERT_EVENT_TYPES: tuple[str, ...] = (ALERT_FIRING, ALERT_ACKNOWLEDGED, ALERT_RESOLVED)
EVENT_TYPES: tuple[str, ...] = ALERT_EVENT_TYPES + EVENT_KINDS


def matches(patterns: list[str], event_type: str) -> bool:
    """Whether a channel's event filter (`alert.*`, `rollout.rolled_back`, `*`) takes it."""
    return any(fnmatchcase(event_type, pattern) for pattern in patterns)


class Alert(Frozen):
    id: int
    fingerprint: str
    rule: str
    model: str
    state: AlertState
    severity: Severity
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    count: int = Field(description="Evaluations at which the condition held.")
    first_seen_at: datetime
    last_seen_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_until: datetime | None
    level: int

    @property
    def where(self) -> str:
        """`support-intent-prod v3 1h/5m`: what the alert is about, beyond its rule."""
        labels = self.labels
        parts = [labels.get("endpoint") or labels.get("provider") or ""]
        parts += [f"v{labels['version']}"] if labels.get("version") else []
        parts += [labels[name] for name in ("window", "key", "event") if labels.get(name)]
        return " ".join(part for part in parts if part)


class Channel(Frozen):
    """A channel as operators see it: never its secret."""

    id: int
    name: str
    kind: ChannelKind
    url: str
    events: list[str]
    severities: list[Severity]
    level: int
    send_resolved: bool
    repeat_interval_seconds: int
    status: ChannelStatus
    disabled_reason: str | None
    disabled_at: datetime | None
    kek_version: str
    created_at: datetime


class Notification(Frozen):
    id: int
    message_id: str
    channel: str
    event_type: str
    alert_id: int | None
    event_id: int | None
    status: NotificationStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class AlertEvent(Frozen):
    id: int
    kind: str
    severity: Severity
    labels: dict[str, str]
    annotations: dict[str, str]
    occurred_at: datetime

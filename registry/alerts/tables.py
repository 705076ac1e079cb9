"""ORM rows of alerting: alerts, channels (secret as ciphertext only), the notification log,
the events flows report, and the monitor's cursor (the last window evaluated per team)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.alerts.domain import (
    AlertState,
    ChannelKind,
    ChannelStatus,
    NotificationStatus,
    Severity,
)
from registry.orm import Base, JsonDocument, UTCDateTime, partial_index, utcnow
from registry.tables import BigId


def _one_of(values: type[AlertState | ChannelKind | ChannelStatus | NotificationStatus]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


_SEVERITIES = ", ".join(f"'{severity.value}'" for severity in Severity)


class AlertRow(Base):
    """One episode of a rule's condition for one label set: pending → firing → resolved.

    A resolved alert stays as history; the same fingerprint firing again is a new row.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(f"state IN ({_one_of(AlertState)})", name="state_known"),
        CheckConstraint(f"severity IN ({_SEVERITIES})", name="severity_known"),
        # One open alert per fingerprint and team, enforced by the database.
        partial_index(
            "uq_alerts_one_open", "team_id", "fingerprint", unique=True, where="state <> 'resolved'"
        ),
        Index("ix_alerts_team_id_state", "team_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    rule: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=AlertState.PENDING.value)
    value: Mapped[float | None] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    clear_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ack_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Escalation level reached (1 = first responders) and since when.
    level: Mapped[int] = mapped_column(Integer, default=1)
    level_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Each expired acknowledgement starts a new round of firing notices.
    round: Mapped[int] = mapped_column(Integer, default=0)
    round_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ChannelRow(Base):
    """Where notifications go. The secret (signing secret, Slack URL, PagerDuty routing
    key) exists only as AES-GCM ciphertext, sealed like provider keys."""

    __tablename__ = "alert_channels"
    __table_args__ = (
        UniqueConstraint("team_id", "name"),
        CheckConstraint(f"kind IN ({_one_of(ChannelKind)})", name="kind_known"),
        CheckConstraint(f"status IN ({_one_of(ChannelStatus)})", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    # Where it posts, as shown; for Slack only scheme and host (the path is the secret).
    url: Mapped[str] = mapped_column(String(512))
    events: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    severities: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    level: Mapped[int] = mapped_column(Integer, default=1)
    send_resolved: Mapped[bool] = mapped_column(Boolean, default=True)
    repeat_interval_seconds: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=ChannelStatus.ACTIVE.value)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    dek_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    kek_version: Mapped[str] = mapped_column(String(32))
    kek_fingerprint: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NotificationRow(Base):
    """One message to one channel. (channel, dedup_key) is unique, so an evaluation retried
    or run twice never plans a message twice; the claim on `status` sends it once."""

    __tablename__ = "alert_notifications"
    __table_args__ = (
        UniqueConstraint("channel_id", "dedup_key"),
        CheckConstraint(f"status IN ({_one_of(NotificationStatus)})", name="status_known"),
        Index("ix_alert_notifications_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_alert_notifications_alert_id", "alert_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Sent as `webhook-id`: receivers dedupe on it, and every retry carries the same one.
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("alert_channels.id"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("alert_events.id"))
    event_type: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertEventRow(Base):
    """Something a flow reported (a promotion, a rollback, an SRM): sent as a notice to the
    channels that subscribe to its kind, and matched by event rules."""

    __tablename__ = "alert_events"
    __table_args__ = (
        CheckConstraint(f"severity IN ({_SEVERITIES})", name="severity_known"),
        Index("ix_alert_events_team_id_occurred_at", "team_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MonitorCursorRow(Base):
    """The end of the last window the monitor evaluated for a team. Evaluating locks this
    row, so one evaluator runs at a time, and a window at or before it is never redone."""

    __tablename__ = "monitor_cursors"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

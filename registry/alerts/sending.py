"""The send rules (README, "Send rules"): which channel is told what about which alert or
event, planned as rows of the notification log. A row's (channel, dedup key) is unique, so
planning again (a retry, a second monitor) adds nothing that is already there."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session

from registry.alerts.domain import (
    ALERT_ACKNOWLEDGED,
    ALERT_FIRING,
    ALERT_RESOLVED,
    CHANNEL_TEST,
    AlertState,
    ChannelStatus,
    matches,
)
from registry.alerts.tables import AlertEventRow, AlertRow, ChannelRow, NotificationRow
from registry.catalog_alerts import format_duration
from registry.domain import JsonObject, Team
from registry.errors import translate_database_errors
from registry.orm import utcnow
from registry.upsert import conflict_insert

# A resolved alert can still be told for this long (Prometheus' resolvedRetention), so a
# resolve by hand or a channel that failed in between still gets its notice.
RESOLVED_RETENTION = timedelta(minutes=15)
# Events are told to channels for this long after they happened.
EVENT_RETENTION = timedelta(hours=1)


@dataclass(frozen=True)
class Planned:
    channel_id: int
    event_type: str
    dedup_key: str
    payload: JsonObject
    alert_id: int | None = None
    event_id: int | None = None


def plan_notifications(session: Session, team: Team, now: datetime) -> int:
    """Plan every notification the send rules call for at `now`; returns how many are new."""
    channels = _active_channels(session, team)
    if not channels:
        return 0
    alerts = session.scalars(
        select(AlertRow)
        .where(AlertRow.team_id == team.id, AlertRow.fired_at.is_not(None))
        .where(
            or_(
                AlertRow.state != AlertState.RESOLVED.value,
                AlertRow.resolved_at >= now - RESOLVED_RETENTION,
            )
        )
        .order_by(AlertRow.id)
    ).all()
    sent = _planned_keys(session, [alert.id for alert in alerts])
    planned = [
        notice
        for alert in alerts
        for channel in channels
        for notice in _for_alert(team, alert, channel, sent[(alert.id, channel.id)], now)
    ]
    events = session.scalars(
        select(AlertEventRow)
        .where(AlertEventRow.team_id == team.id, AlertEventRow.occurred_at >= now - EVENT_RETENTION)
        .order_by(AlertEventRow.id)
    ).all()
    planned += [notice for event in events for notice in _for_event(team, event, channels)]
    return insert_planned(session, team, planned, now)


def plan_event_notices(session: Session, team: Team, event_id: int, now: datetime) -> int:
    """Plan the notices of one event right away (the monitor would at its next run)."""
    event = session.scalars(
        select(AlertEventRow).where(AlertEventRow.team_id == team.id, AlertEventRow.id == event_id)
    ).one()
    planned = _for_event(team, event, _active_channels(session, team))
    return insert_planned(session, team, planned, now)


def plan_channel_test(session: Session, team: Team, channel: str, now: datetime) -> int:
    """A `channel.test` notification for one channel (active or not); returns its id."""
    row = session.scalars(
        select(ChannelRow).where(ChannelRow.team_id == team.id, ChannelRow.name == channel)
    ).one()
    payload: JsonObject = {"team": team.name, "channel": channel, "sent_at": _iso(utcnow())}
    planned = Planned(row.id, CHANNEL_TEST, f"test:{uuid.uuid4().hex}", payload)
    insert_planned(session, team, [planned], now)
    return session.scalars(
        select(NotificationRow.id).where(
            NotificationRow.channel_id == row.id, NotificationRow.dedup_key == planned.dedup_key
        )
    ).one()


def _for_alert(
    team: Team, alert: AlertRow, channel: ChannelRow, sent: set[str], now: datetime
) -> list[Planned]:
    if alert.severity not in channel.severities:
        return []
    state, prefix = AlertState(alert.state), f"alert:{alert.id}:"
    told = any(key.startswith(f"{prefix}firing:") for key in sent)
    wanted: list[tuple[str, str, str]] = []  # (event type, dedup key, why)
    if state is AlertState.FIRING and channel.level <= alert.level:
        first = f"{prefix}firing:{alert.round}"
        if first not in sent:
            wanted.append((ALERT_FIRING, first, _why_firing(alert, channel)))
        elif channel.repeat_interval_seconds and alert.round_since is not None:
            elapsed = (now - alert.round_since).total_seconds()
            interval = channel.repeat_interval_seconds
            repeat = int(elapsed // interval)
            if repeat >= 1:
                why = f"still firing after {format_duration(repeat * interval)}"
                wanted.append((ALERT_FIRING, f"{first}:repeat:{repeat}", why))
    elif state is AlertState.ACKNOWLEDGED and told:
        why = f"acknowledged by {alert.acknowledged_by}"
        wanted.append((ALERT_ACKNOWLEDGED, f"{prefix}acknowledged:{alert.round}", why))
    elif state is AlertState.RESOLVED and told and channel.send_resolved:
        why = f"resolved by {alert.resolved_by}" if alert.resolved_by else "the condition cleared"
        wanted.append((ALERT_RESOLVED, f"{prefix}resolved", why))
    return [
        Planned(channel.id, kind, key, alert_payload(team, alert, why), alert_id=alert.id)
        for kind, key, why in wanted
        if key not in sent and matches(channel.events, kind)
    ]


def _why_firing(alert: AlertRow, channel: ChannelRow) -> str:
    if alert.round:
        return "its acknowledgement expired and it still fires"
    if channel.level > 1:
        return f"escalated to level {channel.level}: not acknowledged in time"
    return "first firing"


def _for_event(team: Team, event: AlertEventRow, channels: Sequence[ChannelRow]) -> list[Planned]:
    return [
        Planned(
            channel.id, event.kind, f"event:{event.id}", event_payload(team, event), None, event.id
        )
        for channel in channels
        if event.severity in channel.severities and matches(channel.events, event.kind)
    ]


def alert_payload(team: Team, alert: AlertRow, reason: str) -> JsonObject:
    """What every channel is told about an alert (the webhook's `data`)."""
    return {
        "team": team.name,
        "reason": reason,
        "alert": {
            "id": alert.id,
            "fingerprint": alert.fingerprint,
            "rule": alert.rule,
            "state": alert.state,
            "severity": alert.severity,
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "value": alert.value,
            "count": alert.count,
            "level": alert.level,
            "starts_at": _iso(alert.fired_at or alert.first_seen_at),
            "ends_at": _iso(alert.resolved_at),
            "acknowledged_by": alert.acknowledged_by,
            "ack_until": _iso(alert.ack_until),
            # One incident per alert in PagerDuty: trigger, acknowledge and resolve share it.
            "dedup_key": f"modelops/{team.name}/{alert.fingerprint}/{alert.id}",
        },
    }


def event_payload(team: Team, event: AlertEventRow) -> JsonObject:
    return {
        "team": team.name,
        "event": {
            "id": event.id,
            "kind": event.kind,
            "severity": event.severity,
            "labels": dict(event.labels),
            "annotations": dict(event.annotations),
            "occurred_at": _iso(event.occurred_at),
        },
    }


def insert_planned(session: Session, team: Team, planned: list[Planned], now: datetime) -> int:
    """Insert the planned rows, skipping any (channel, dedup key) already in the log."""
    if not planned:
        return 0
    rows: list[dict[str, Any]] = [
        {
            "message_id": f"msg_{uuid.uuid4().hex}",
            "team_id": team.id,
            "channel_id": notice.channel_id,
            "alert_id": notice.alert_id,
            "event_id": notice.event_id,
            "event_type": notice.event_type,
            "dedup_key": notice.dedup_key,
            "payload": notice.payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": utcnow(),
        }
        for notice in planned
    ]
    table = NotificationRow.__table__
    assert isinstance(table, Table)
    statement = conflict_insert(session, table).on_conflict_do_nothing(
        index_elements=["channel_id", "dedup_key"]
    )
    with translate_database_errors("planning notifications"):
        result = session.execute(statement.returning(table.c.id), rows)
        return len(result.all())


def _active_channels(session: Session, team: Team) -> list[ChannelRow]:
    return list(
        session.scalars(
            select(ChannelRow)
            .where(ChannelRow.team_id == team.id, ChannelRow.status == ChannelStatus.ACTIVE.value)
            .order_by(ChannelRow.level, ChannelRow.id)
        )
    )


def _planned_keys(session: Session, alert_ids: list[int]) -> defaultdict[tuple[int, int], set[str]]:
    keys: defaultdict[tuple[int, int], set[str]] = defaultdict(set)
    if not alert_ids:
        return keys
    query = select(NotificationRow.alert_id, NotificationRow.channel_id, NotificationRow.dedup_key)
    for alert_id, channel_id, key in session.execute(
        query.where(NotificationRow.alert_id.in_(alert_ids))
    ):
        keys[(int(alert_id), channel_id)].add(key)
    return keys


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


__all__ = [
    "Planned",
    "alert_payload",
    "event_payload",
    "plan_channel_test",
    "plan_event_notices",
    "plan_notifications",
]

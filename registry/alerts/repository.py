"""Alerts of one team as people handle them: list, acknowledge (for a while), resolve by
hand, and the notifications each one caused. Never commits."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from registry.alerts.domain import Alert, AlertState, Notification, NotificationStatus, Severity
from registry.alerts.rules import team_rules
from registry.alerts.tables import AlertRow, ChannelRow, NotificationRow
from registry.catalog_alerts import MAX_WINDOW_SECONDS, format_duration
from registry.domain import Team
from registry.errors import InvalidInputError, NotFoundError, translate_database_errors
from registry.orm import utcnow
from registry.tables import ModelRow

Clock = Callable[[], datetime]
DEFAULT_ACK_TIMEOUT = 1800  # PagerDuty's acknowledgement_timeout
MAX_ACTOR_CHARS = 128


class AlertRepository:
    """Alerts of one team; another team's are invisible (every query filters on team_id)."""

    def __init__(self, session: Session, team: Team, *, clock: Clock = utcnow) -> None:
        self._session = session
        self._team = team
        self._clock = clock

    def list(self, *, include_resolved: bool = False, limit: int = 500) -> builtins.list[Alert]:
        """Open alerts (pending, firing, acknowledged), most urgent first; or every alert."""
        query = self._query().order_by(AlertRow.id.desc()).limit(limit)
        if not include_resolved:
            query = query.where(AlertRow.state != AlertState.RESOLVED.value)
        alerts = [_view(row, model) for row, model in self._session.execute(query)]
        urgency = {severity: rank for rank, severity in enumerate(Severity)}
        return sorted(alerts, key=lambda a: (not a.state.is_open, urgency[a.severity], -a.id))

    def get(self, alert_id: int) -> Alert:
        row, model = self._row(alert_id)
        return _view(row, model)

    def acknowledge(self, alert_id: int, actor: str, *, for_seconds: int | None = None) -> Alert:
        """Someone is on it: no repeats or escalation until the acknowledgement expires
        (after `for_seconds`, else the rule's ack_timeout), when it fires again."""
        actor = _check_actor(actor)
        row, model = self._row(alert_id, for_update=True)
        state = AlertState(row.state)
        if state not in (AlertState.FIRING, AlertState.ACKNOWLEDGED):
            raise InvalidInputError(
                f"alert {alert_id} is {state}: only a firing alert can be acknowledged",
                field="alert",
            )
        seconds = for_seconds if for_seconds is not None else self._ack_timeout(row, model)
        if not 60 <= seconds <= MAX_WINDOW_SECONDS:
            raise InvalidInputError(
                f"an acknowledgement lasts between 1m and {format_duration(MAX_WINDOW_SECONDS)}"
                f" (got {seconds}s)",
                field="for",
            )
        now = self._clock()
        row.state = AlertState.ACKNOWLEDGED.value
        row.acknowledged_by, row.acknowledged_at = actor, now
        row.ack_until = now + timedelta(seconds=seconds)
        self._flush(f"acknowledging alert {alert_id}")
        return _view(row, model)

    def resolve(self, alert_id: int, actor: str) -> Alert:
        """Close it by hand; if the condition still holds, the next evaluation opens a new one."""
        actor = _check_actor(actor)
        row, model = self._row(alert_id, for_update=True)
        if row.state == AlertState.RESOLVED:
            raise InvalidInputError(f"alert {alert_id} is already resolved", field="alert")
        row.state = AlertState.RESOLVED.value
        row.resolved_at, row.resolved_by = self._clock(), actor
        self._flush(f"resolving alert {alert_id}")
        return _view(row, model)

    def notifications(self, alert_id: int) -> builtins.list[Notification]:
        self._row(alert_id)
        N = NotificationRow
        rows = self._session.execute(
            select(N, ChannelRow.name)
            .join(ChannelRow, ChannelRow.id == N.channel_id)
            .where(N.team_id == self._team.id, N.alert_id == alert_id)
            .order_by(N.id)
        )
        return [notification_view(row, channel) for row, channel in rows]

    def _ack_timeout(self, row: AlertRow, model: str) -> int:
        for rule in team_rules(self._session, self._team):
            if rule.model == model and rule.name == row.rule:
                return rule.spec.ack_timeout
        return DEFAULT_ACK_TIMEOUT

    def _query(self) -> Select[tuple[AlertRow, str]]:
        return (
            select(AlertRow, ModelRow.name)
            .join(ModelRow, ModelRow.id == AlertRow.model_id)
            .where(AlertRow.team_id == self._team.id)
        )

    def _row(self, alert_id: int, *, for_update: bool = False) -> tuple[AlertRow, str]:
        query = self._query().where(AlertRow.id == alert_id)
        found = self._session.execute(
            query.with_for_update(of=AlertRow) if for_update else query
        ).first()
        if found is None:
            raise NotFoundError(
                f"no alert {alert_id} in team {self._team.name!r}; `modelops alerts list` "
                "shows the ids"
            )
        return found[0], found[1]

    def _flush(self, what: str) -> None:
        with translate_database_errors(what):
            self._session.flush()


def _check_actor(actor: str) -> str:
    actor = actor.strip()
    if not actor or len(actor) > MAX_ACTOR_CHARS or not actor.isprintable():
        raise InvalidInputError(
            f"actor must be 1 to {MAX_ACTOR_CHARS} printable characters", field="actor"
        )
    return actor


def _view(row: AlertRow, model: str) -> Alert:
    return Alert(
        id=row.id,
        fingerprint=row.fingerprint,
        rule=row.rule,
        model=model,
        state=AlertState(row.state),
        severity=Severity(row.severity),
        labels={str(k): str(v) for k, v in row.labels.items()},
        annotations={str(k): str(v) for k, v in row.annotations.items()},
        value=row.value,
        count=row.count,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        ack_until=row.ack_until,
        level=row.level,
    )


def notification_view(row: NotificationRow, channel: str) -> Notification:
    return Notification(
        id=row.id,
        message_id=row.message_id,
        channel=channel,
        event_type=row.event_type,
        alert_id=row.alert_id,
        event_id=row.event_id,
        status=NotificationStatus(row.status),
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )

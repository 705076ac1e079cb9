"""An alert's life, in Prometheus' terms: pending until the condition has held for `for`,
then firing until it has been clear for `keep_firing_for`; an acknowledgement expires back
to firing (as PagerDuty's does); an unacknowledged alert escalates level by level."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from registry.alerts.domain import AlertState
from registry.alerts.fingerprint import fingerprint
from registry.alerts.observe import Observation
from registry.alerts.rules import AlertRule
from registry.alerts.tables import AlertRow


class Change(StrEnum):
    OPENED = "opened"  # pending: the condition holds, not yet for `for`
    FIRED = "fired"
    DROPPED = "dropped"  # cleared while pending: it never fired, nobody is told
    RESOLVED = "resolved"
    REFIRED = "refired"  # its acknowledgement expired while it still fires
    ESCALATED = "escalated"


@dataclass(frozen=True)
class Timing:
    """The rule's clock: `for`, keep_firing_for and the delays before each next level."""

    hold: timedelta
    keep_firing: timedelta
    escalation: tuple[timedelta, ...]

    @classmethod
    def of(cls, rule: AlertRule | None) -> Timing:
        """A rule gone from the catalog leaves its alerts nothing to hold them: they
        resolve at the next evaluation."""
        if rule is None:
            return cls(timedelta(0), timedelta(0), ())
        spec = rule.spec
        return cls(
            hold=timedelta(seconds=spec.for_),
            keep_firing=timedelta(seconds=spec.keep_firing_seconds),
            escalation=tuple(timedelta(seconds=delay) for delay in spec.escalation),
        )


def open_alert(team_id: int, seen: Observation, now: datetime) -> tuple[AlertRow, list[Change]]:
    """A new alert for a label set whose condition just started to hold."""
    row = AlertRow(
        team_id=team_id,
        model_id=seen.rule.model_id,
        rule=seen.rule.name,
        fingerprint=fingerprint(seen.labels),
        labels=seen.labels,
        state=AlertState.PENDING.value,
        count=1,
        first_seen_at=now,
        last_seen_at=now,
        level=1,
        round=0,
    )
    _describe(row, seen)
    changes = [Change.OPENED]
    if Timing.of(seen.rule).hold <= timedelta(0):
        _fire(row, now)
        changes.append(Change.FIRED)
    return row, changes


def advance(row: AlertRow, seen: Observation | None, now: datetime, timing: Timing) -> list[Change]:
    """Move an open alert on by one evaluation; `seen` None means its label set was not
    observed (no traffic, the endpoint or rule gone), which counts as clear."""
    state = AlertState(row.state)
    if seen is not None:
        _describe(row, seen)
    if seen is not None and seen.breaching:
        row.last_seen_at, row.count, row.clear_since = now, row.count + 1, None
        if state is AlertState.PENDING:
            if now - row.first_seen_at < timing.hold:
                return []
            _fire(row, now)
            return [Change.FIRED]
    else:
        if state is AlertState.PENDING:
            _resolve(row, now)
            return [Change.DROPPED]
        row.clear_since = row.clear_since or now
        if now - row.clear_since >= timing.keep_firing:
            _resolve(row, now)
            return [Change.RESOLVED]
    return _while_firing(row, now, timing)


def _while_firing(row: AlertRow, now: datetime, timing: Timing) -> list[Change]:
    changes = []
    if row.state == AlertState.ACKNOWLEDGED and row.ack_until is not None and now >= row.ack_until:
        row.state = AlertState.FIRING.value
        row.acknowledged_by = row.acknowledged_at = row.ack_until = None
        row.round += 1
        row.round_since = row.level_since = now
        changes.append(Change.REFIRED)
    step = row.level - 1
    if (
        row.state == AlertState.FIRING
        and step < len(timing.escalation)
        and row.level_since is not None
        and now - row.level_since >= timing.escalation[step]
    ):
        row.level += 1
        row.level_since = now
        changes.append(Change.ESCALATED)
    return changes


def _fire(row: AlertRow, now: datetime) -> None:
    row.state = AlertState.FIRING.value
    row.fired_at = row.level_since = row.round_since = now


def _resolve(row: AlertRow, now: datetime) -> None:
    row.state = AlertState.RESOLVED.value
    row.resolved_at = now


def _describe(row: AlertRow, seen: Observation) -> None:
    """Annotations and the value follow the latest observation; labels never change."""
    row.severity = seen.severity
    row.value = seen.value
    summary = seen.rule.spec.summary or seen.detail
    row.annotations = {"summary": summary, "detail": seen.detail}

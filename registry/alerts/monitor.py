"""One evaluation of one team at the end of a window: observe every rule, move the alerts
on, plan the notifications. It runs once per window: the team's cursor row is locked for
the transaction and refuses a window at or before the last one evaluated."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.alerts.domain import Alert, AlertState
from registry.alerts.fingerprint import fingerprint
from registry.alerts.lifecycle import Change, Timing, advance, open_alert
from registry.alerts.observe import Observation, Window, observe
from registry.alerts.repository import AlertRepository
from registry.alerts.rules import AlertRule, team_rules
from registry.alerts.sending import plan_notifications
from registry.alerts.tables import AlertRow, MonitorCursorRow
from registry.domain import Frozen, Team
from registry.errors import ConflictError, InvalidInputError, translate_database_errors
from registry.orm import utcnow
from registry.outcomes.rollups import minute_of
from registry.usage.budgets import record_crossings

# With no cursor yet, event rules look back this far.
FIRST_LOOK_BACK = timedelta(minutes=1)


class WindowReport(Frozen):
    """What evaluating one team at `window_end` did (`evaluated` False: already done)."""

    team: str
    window_end: datetime
    evaluated: bool
    rules: int = 0
    observations: int = 0
    changes: dict[str, int] = Field(default_factory=dict)
    notifications_planned: int = 0
    open_alerts: list[Alert] = Field(default_factory=list)


def evaluate_window(session: Session, team: Team, window_end: datetime) -> WindowReport:
    """Evaluate the team's rules at `window_end` (a whole minute), in the caller's
    transaction; a window at or before the last one evaluated is skipped."""
    if window_end.tzinfo is None or minute_of(window_end) != window_end:
        raise InvalidInputError(
            f"window_end must be a whole minute in UTC, got {window_end.isoformat()}",
            field="window_end",
        )
    previous = _advance_cursor(session, team, window_end)
    if previous is None:
        open_alerts = AlertRepository(session, team).list()
        return WindowReport(
            team=team.name, window_end=window_end, evaluated=False, open_alerts=open_alerts
        )
    record_crossings(session, team, window_end)  # soft budgets: one event per period each
    rules = team_rules(session, team)
    seen = observe(session, team, rules, Window(end=window_end, previous_end=previous))
    changes = _apply(session, team, rules, seen, window_end)
    planned = plan_notifications(session, team, window_end)
    return WindowReport(
        team=team.name,
        window_end=window_end,
        evaluated=True,
        rules=len(rules),
        observations=len(seen),
        changes=dict(changes),
        notifications_planned=planned,
        open_alerts=AlertRepository(session, team).list(),
    )


def _advance_cursor(session: Session, team: Team, window_end: datetime) -> datetime | None:
    """Lock the team's cursor and move it to `window_end`; the previous end, or None when
    this window (or a later one) was already evaluated."""
    query = select(MonitorCursorRow).where(MonitorCursorRow.team_id == team.id)
    cursor = session.scalar(query.with_for_update())
    if cursor is None:
        try:
            with (
                translate_database_errors("starting the monitor cursor"),
                session.begin_nested(),
            ):
                session.add(MonitorCursorRow(team_id=team.id, window_end=window_end))
            return window_end - FIRST_LOOK_BACK
        except ConflictError:
            # Another evaluator created it first: wait for its lock like everyone else.
            cursor = session.scalars(query.with_for_update()).one()
    if cursor.window_end >= window_end:
        return None
    previous = cursor.window_end
    cursor.window_end, cursor.evaluated_at = window_end, utcnow()
    session.flush()
    return previous


def _apply(
    session: Session,
    team: Team,
    rules: list[AlertRule],
    seen: list[Observation],
    now: datetime,
) -> Counter[str]:
    by_key = {(rule.model_id, rule.name): rule for rule in rules}
    open_rows = {
        row.fingerprint: row
        for row in session.scalars(
            select(AlertRow).where(
                AlertRow.team_id == team.id, AlertRow.state != AlertState.RESOLVED.value
            )
        )
    }
    changes: Counter[str] = Counter()
    observed = {}
    for observation in seen:
        observed[fingerprint(observation.labels)] = observation
    for key, observation in observed.items():
        row = open_rows.pop(key, None)
        if row is None:
            if not observation.breaching:
                continue
            row, opened = open_alert(team.id, observation, now)
            session.add(row)
            changes.update(opened)
        else:
            changes.update(advance(row, observation, now, Timing.of(observation.rule)))
    for row in open_rows.values():  # open alerts nothing observed this time
        changes.update(advance(row, None, now, Timing.of(by_key.get((row.model_id, row.rule)))))
    with translate_database_errors("recording alerts"):
        session.flush()
    return Counter({str(change): count for change, count in changes.items()})


__all__ = ["Change", "WindowReport", "evaluate_window"]

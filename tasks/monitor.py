"""Tasks of the monitor flow: evaluate every team's rules at the end of one window (each
team in its own transaction, once per window), send what the notification log has due,
and publish what is open as a table; `notify_event` sends one event's notices at once."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from registry.alerts.monitor import WindowReport, evaluate_window
from registry.alerts.sending import plan_event_notices
from registry.orm import utcnow
from registry.teams import TeamRepository
from tasks.context import database, keyring, unit_of_work
from tasks.monitor_delivery import DeliveryReport, deliver_due
from tasks.retry import retry_on_transient

FIRING_ARTIFACT = "monitor-firing"
COLUMNS = ("team", "id", "state", "severity", "rule", "where", "since", "level", "summary")


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[1, 5, 15],
    retry_condition_fn=retry_on_transient,
)
def evaluate_alerts(window_end: datetime) -> list[WindowReport]:
    """Evaluate each team at `window_end`; a retry re-evaluates nothing already committed."""
    with database().transaction() as session:
        teams = TeamRepository(session).list_names()
    reports = []
    for name in teams:
        with unit_of_work(name) as (session, team):
            reports.append(evaluate_window(session, team, window_end))
    return reports


@task(cache_policy=NO_CACHE)
def publish_open_alerts(window_end: datetime, reports: list[WindowReport]) -> int:
    """A table artifact of every open alert (pending, firing, acknowledged); returns how many."""
    rows = [
        {
            "team": report.team,
            "id": alert.id,
            "state": alert.state.value,
            "severity": alert.severity.value,
            "rule": f"{alert.model}/{alert.rule}",
            "where": alert.where,
            "since": (alert.fired_at or alert.first_seen_at).isoformat(),
            "level": alert.level,
            "summary": alert.annotations.get("summary", ""),
        }
        for report in reports
        for alert in report.open_alerts
    ]
    table = {column: [row[column] for row in rows] for column in COLUMNS}
    skipped = [report.team for report in reports if not report.evaluated]
    note = f"; already evaluated for {', '.join(skipped)}" if skipped else ""
    create_table_artifact(
        table,
        key=FIRING_ARTIFACT,
        description=f"Open alerts at {window_end.isoformat()}: {len(rows)}{note}",
    )
    return len(rows)


@task(cache_policy=NO_CACHE)
def deliver_notifications() -> DeliveryReport:
    """Send what the notification log has due (retries inside; the task itself never
    retries, so nothing is sent twice by Prefect)."""
    return deliver_due(database().sessions, keyring())


@task(cache_policy=NO_CACHE)
def notify_event(event_id: int) -> DeliveryReport:
    """Plan an event's notices now and send them, instead of waiting for the monitor."""
    with unit_of_work() as (session, team):
        plan_event_notices(session, team, event_id, utcnow())
    return deliver_due(database().sessions, keyring())

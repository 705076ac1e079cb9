"""monitor: every minute, evaluate each team's alert rules on the window that just ended,
then send the notifications the send rules planned, and publish what is open."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from pydantic import Field

from flows.params import MonitorParams
from registry.domain import Frozen
from tasks.monitor import deliver_notifications, evaluate_alerts, publish_open_alerts
from tasks.monitor_delivery import DeliveryReport


class MonitorOutcome(Frozen):
    window_end: datetime
    teams: int
    already_evaluated: list[str] = Field(default_factory=list)
    changes: dict[str, int] = Field(default_factory=dict)
    open_alerts: int
    delivery: DeliveryReport


def _scheduled_minute() -> datetime:
    """The minute this run was scheduled for (now, for an unscheduled run), so retries and
    late starts evaluate the same window."""
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time or datetime.now(UTC)
    return scheduled.astimezone(UTC).replace(second=0, microsecond=0)


def _run_name() -> str:
    from prefect.runtime import flow_run

    given = flow_run.parameters.get("params") or {}
    end = given.get("window_end") if isinstance(given, dict) else getattr(given, "window_end", None)
    moment = end if isinstance(end, datetime) else None
    if moment is None:
        moment = datetime.fromisoformat(str(end)) if end else _scheduled_minute()
    return f"monitor-{moment.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


@flow(
    name="monitor",
    flow_run_name=_run_name,
    description="Alert rules on the window that just ended → alerts pending/firing/resolved, "
    "escalation → notifications (signed webhook, Slack, PagerDuty) → table of open alerts.",
)
async def monitor(params: MonitorParams | None = None) -> MonitorOutcome:
    logger = get_run_logger()
    params = params or MonitorParams()
    window_end = params.window_end or _scheduled_minute()
    reports = evaluate_alerts(window_end)
    changes: dict[str, int] = {}
    for report in reports:
        for change, count in report.changes.items():
            changes[change] = changes.get(change, 0) + count
    delivery = deliver_notifications()
    open_alerts = publish_open_alerts(window_end, reports)
    logger.info(
        "window ending %s: %s; %d open alerts; %d notifications delivered, %d waiting, %d failed",
        window_end.isoformat(),
        ", ".join(f"{count} {change}" for change, count in sorted(changes.items())) or "no change",
        open_alerts,
        delivery.delivered,
        delivery.waiting,
        delivery.failed,
    )
    return MonitorOutcome(
        window_end=window_end,
        teams=len(reports),
        already_evaluated=[report.team for report in reports if not report.evaluated],
        changes=changes,
        open_alerts=open_alerts,
        delivery=delivery,
    )

"""usage-report: every day, check that yesterday's usage adds up (recomputed from raw
outcomes), record soft budgets crossed and send their notices, then publish the usage table
and the recommendations the measured data supports."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from prefect import flow, get_run_logger
from pydantic import Field

from flows.params import UsageReportParams
from registry.domain import Frozen
from tasks.usage_report import (
    BudgetReport,
    ReconcileReport,
    check_budgets,
    publish_recommendations,
    publish_usage,
    reconcile_usage,
)


class UsageReportOutcome(Frozen):
    day: date
    requests: int
    cost_micro_usd: int
    reconciled: bool  # daily usage equals the raw outcomes for every team
    differences: list[str] = Field(default_factory=list)
    budgets: BudgetReport
    usage_rows: int
    recommendations: int


def _run_name() -> str:
    from prefect.runtime import flow_run

    given = flow_run.parameters.get("params") or {}
    day = given.get("day") if isinstance(given, dict) else getattr(given, "day", None)
    return f"usage-report-{day or _yesterday()}"


def _yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


@flow(
    name="usage-report",
    flow_run_name=_run_name,
    description="Yesterday's usage reconciled with the raw outcomes → soft budgets crossed "
    "(one notice each) → table of daily usage and cost → recommendations (markdown).",
)
def usage_report(params: UsageReportParams | None = None) -> UsageReportOutcome:
    logger = get_run_logger()
    params = params or UsageReportParams()
    day = params.day or _yesterday()
    now = datetime.now(UTC)
    reports: list[ReconcileReport] = reconcile_usage(day)
    differences = [f"{r.team}: {d}" for r in reports for d in r.differences]
    if differences:
        logger.warning("daily usage of %s differs from the raw outcomes: %s", day, differences[:5])
    budgets = check_budgets(now)
    rows = publish_usage(day - timedelta(days=params.days - 1), day)
    found = publish_recommendations(now, params.days)
    logger.info(
        "%s: %d requests, %.6f USD; reconciled: %s; budgets crossed: %s; %d recommendations",
        day,
        sum(r.requests for r in reports),
        sum(r.cost_micro_usd for r in reports) / 1e6,
        "yes" if not differences else f"{len(differences)} differences",
        ", ".join(budgets.crossed) or "none",
        found,
    )
    return UsageReportOutcome(
        day=day,
        requests=sum(r.requests for r in reports),
        cost_micro_usd=sum(r.cost_micro_usd for r in reports),
        reconciled=not differences,
        differences=differences,
        budgets=budgets,
        usage_rows=rows,
        recommendations=found,
    )

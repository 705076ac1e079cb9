"""Tasks of the usage-report flow: reconcile a day's usage with the raw outcomes, record soft
budgets crossed (and send their notices), publish the usage table and the recommendations."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from registry.alerts.sending import plan_event_notices
from registry.domain import Frozen
from registry.teams import TeamRepository
from registry.usage.budgets import record_crossings
from registry.usage.daily import UsageBy, daily_usage
from registry.usage.recommendations import Period, Recommendation, recommendations
from registry.usage.reconcile import reconcile_day
from tasks.context import database, keyring, unit_of_work
from tasks.monitor_delivery import DeliveryReport, deliver_due
from tasks.retry import retry_on_transient

USAGE_ARTIFACT = "usage-daily"
RECOMMENDATIONS_ARTIFACT = "usage-recommendations"
MICRO = 1_000_000


class ReconcileReport(Frozen):
    team: str
    day: date
    requests: int
    cost_micro_usd: int
    differences: list[str] = Field(default_factory=list)


class BudgetReport(Frozen):
    crossed: list[str] = Field(default_factory=list)  # "team/budget"
    delivery: DeliveryReport = Field(default_factory=DeliveryReport)


def _teams() -> list[str]:
    with database().transaction() as session:
        return TeamRepository(session).list_names()


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_transient
)
def reconcile_usage(day: date) -> list[ReconcileReport]:
    """Each team's `day` recomputed from raw outcomes and compared with daily usage."""
    reports = []
    for name in _teams():
        with unit_of_work(name) as (session, team):
            result = reconcile_day(session, team, day)
        reports.append(
            ReconcileReport(
                team=name,
                day=day,
                requests=result.requests,
                cost_micro_usd=result.cost_micro_usd,
                differences=[
                    f"endpoint {d.endpoint_id} version {d.model_version_id} key "
                    f"{d.provider_key_id}: {d.column} {d.folded} folded, {d.recomputed} raw"
                    for d in result.differences
                ],
            )
        )
    return reports


@task(cache_policy=NO_CACHE)
def check_budgets(at: datetime) -> BudgetReport:
    """Soft budgets crossed in their current period: recorded once, their notices sent (the
    task never retries, so nothing is sent twice by Prefect)."""
    crossed: list[str] = []
    for name in _teams():
        with unit_of_work(name) as (session, team):
            crossings = record_crossings(session, team, at)
            for crossing in crossings:
                plan_event_notices(session, team, crossing.event_id, at)
        crossed += [f"{name}/{c.status.budget.name}" for c in crossings]
    delivery = deliver_due(database().sessions, keyring()) if crossed else DeliveryReport()
    return BudgetReport(crossed=crossed, delivery=delivery)


@task(cache_policy=NO_CACHE)
def publish_usage(since: date, until: date) -> int:
    """A table artifact of every team's usage by model and day; returns its rows."""
    rows: list[dict[str, object]] = []
    for name in _teams():
        with unit_of_work(name) as (session, team):
            for record in daily_usage(session, team, since, until, UsageBy.VERSION):
                rows.append(
                    {
                        "team": name,
                        "day": record.day.isoformat(),
                        "version": record.group,
                        "requests": record.requests,
                        "errors": record.errors,
                        "input_tokens": record.input_tokens,
                        "cached_input_tokens": record.cached_input_tokens,
                        "output_tokens": record.output_tokens,
                        "cost_usd": round(record.cost_micro_usd / MICRO, 6),
                    }
                )
    create_table_artifact(
        rows,
        key=USAGE_ARTIFACT,
        description=f"Daily usage and cost by version, {since} to {until} (UTC days)",
    )
    return len(rows)


@task(cache_policy=NO_CACHE)
def publish_recommendations(until: datetime, days: int) -> int:
    """A markdown artifact of every team's recommendations over the last `days` days."""
    period = Period(until - timedelta(days=days), until)
    sections = []
    total = 0
    for name in _teams():
        with unit_of_work(name) as (session, team):
            found = recommendations(session, team, period)
        total += len(found)
        sections.append(_section(name, found))
    header = f"# Recommendations\n\n{period.since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC\n"
    create_markdown_artifact(
        "\n".join([header, *sections]),
        key=RECOMMENDATIONS_ARTIFACT,
        description=f"{total} recommendations from the last {days} days of measured data",
    )
    return total


def _section(team: str, found: list[Recommendation]) -> str:
    if not found:
        return f"## Team {team}\n\nNothing to recommend: no measured condition holds.\n"
    lines = [f"## Team {team}\n"]
    for number, item in enumerate(found, 1):
        lines.append(f"{number}. **{item.title}**")
        lines.append(f"   - test: {item.test}")
        for name, value in item.evidence.items():
            lines.append(f"   - {name}: `{value}`")
    return "\n".join(lines) + "\n"

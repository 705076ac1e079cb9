"""Usage and cost by day (the daily usage rows, never the outcomes) and the
recommendations the usage report makes, with their evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from gateway.dashboard.panels import Panel, View
from gateway.dashboard.panels.charts import Chart, Line
from gateway.dashboard.render import PALETTE
from registry.usage.daily import UsageBy, UsageRecord, daily_usage
from registry.usage.recommendations import Period, Recommendation, recommendations

USAGE_DAYS = 30  # the usage panel's period, whatever the charts' window
RECOMMENDATION_DAYS = 7  # as `modelops recommendations` looks by default


@dataclass(frozen=True)
class ModelTotal:
    model: str
    requests: int
    errors: int
    tokens: int
    cost_micro_usd: int


@dataclass(frozen=True)
class UsageView:
    days: int
    totals: list[ModelTotal]
    chart: Chart | None

    @property
    def cost_micro_usd(self) -> int:
        return sum(total.cost_micro_usd for total in self.totals)


def read_usage(session: Session, view: View) -> UsageView:
    until = view.now.astimezone(UTC).date()
    since = until - timedelta(days=USAGE_DAYS - 1)
    records = daily_usage(session, view.team, since, until, UsageBy.MODEL)
    return UsageView(USAGE_DAYS, _totals(records), _cost_chart(records))


def _totals(records: list[UsageRecord]) -> list[ModelTotal]:
    models = sorted({r.group for r in records})
    mine = {m: [r for r in records if r.group == m] for m in models}
    totals = [
        ModelTotal(
            model,
            sum(r.requests for r in rows),
            sum(r.errors for r in rows),
            sum(r.input_tokens + r.output_tokens for r in rows),
            sum(r.cost_micro_usd for r in rows),
        )
        for model, rows in mine.items()
    ]
    return sorted(totals, key=lambda t: -t.cost_micro_usd)


def _cost_chart(records: list[UsageRecord]) -> Chart | None:
    if not records:
        return None
    days = sorted({r.day for r in records})
    x = [datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() for d in days]
    models = sorted({r.group for r in records})
    cost = {(r.day, r.group): r.cost_micro_usd / 1e6 for r in records}
    lines = [
        Line(model, PALETTE[i % len(PALETTE)], [cost.get((day, model), 0.0) for day in days])
        for i, model in enumerate(models)
    ]
    return Chart("usage-cost", "Cost per day, by model (USD)", "usd", x, lines)


def read_recommendations(session: Session, view: View) -> list[Recommendation]:
    period = Period(view.now - timedelta(days=RECOMMENDATION_DAYS), view.now)
    return recommendations(session, view.team, period)


PANEL = Panel("usage", "panels/usage.html", read_usage)
RECOMMENDATIONS = Panel("recommendations", "panels/recommendations.html", read_recommendations)

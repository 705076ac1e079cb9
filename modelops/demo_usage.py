"""The demo's usage step: a batch job that calls the model itself reports its outcomes
through `POST /v1/outcomes` (priced by the gateway from the catalog), some of them timed
out; then the day's usage by version, what the budget says, and the recommendation the
measured data supports (the batch endpoint breached its error-rate SLO)."""

from __future__ import annotations

import httpx

from modelops.cli.output import print_table, say_markup
from modelops.demo_gateway import serving
from modelops.runtime import Runtime
from registry.endpoints import NewEndpoint, create_endpoint
from registry.orm import utcnow
from registry.tokens import Scope, TokenRepository
from registry.usage.budgets import BudgetRepository
from registry.usage.daily import UsageBy, daily_usage
from registry.usage.recommendations import Period, recommendations

ENDPOINT = "support-intent-batch"
BATCH = 300
TIMED_OUT = 30  # 10%, against the catalog rule's 5%
MICRO = 1_000_000


def run(rt: Runtime, model: str, version: int, step: str) -> None:
    started = utcnow()
    with rt.transaction() as session:
        team = rt.require_team(session)
        new = NewEndpoint(name=ENDPOINT, model=model, environment="development", version=version,
                          actor="demo")  # fmt: skip
        create_endpoint(session, team, new)
        token = TokenRepository(session, team).create("batch", [Scope.OUTCOMES]).token
        BudgetRepository(session, team).set("team-daily", 25 * MICRO, "day", "soft", None, "demo")
    with serving(rt.settings) as url:  # stores every reported outcome before it exits
        _report_batch(url, token.get_secret_value(), version)
    say_markup(
        f"{step} a batch job reported {BATCH} outcomes of its own calls through POST "
        f"/v1/outcomes ({TIMED_OUT} timed out); the gateway priced them from the catalog"
    )
    with rt.transaction() as session:
        team = rt.require_team(session)
        today = utcnow().date()
        usage = daily_usage(session, team, today, today, UsageBy.VERSION)
        [budget] = BudgetRepository(session, team).statuses(utcnow())
        found = recommendations(session, team, Period(started, utcnow()))
    rows = [
        (r.day.isoformat(), r.group, r.requests, r.errors, r.input_tokens, r.output_tokens,
         f"{r.cost_micro_usd / MICRO:.6f}")
        for r in usage
    ]  # fmt: skip
    columns = ["day", "version", "requests", "errors", "input tok", "output tok", "cost USD"]
    print_table("   usage today (modelops usage --by version)", columns, rows)
    say_markup(f"   budget {budget.budget.name}: {budget.spent_micro_usd / MICRO:.6f} of "
        f"{budget.budget.limit_micro_usd / MICRO:.2f} USD spent today (soft)")  # fmt: skip
    if found:
        say_markup(f"   recommendation: {found[0].title}")
        say_markup(f"   the test behind it: {found[0].test}")
    else:
        say_markup("   no recommendation: no measured condition holds")


def _report_batch(url: str, token: str, version: int) -> None:
    items = [
        {
            "request_id": f"batch-{i}",
            "endpoint": ENDPOINT,
            "version": version,
            "latency_ms": 120.0 + i % 50,
            "success": i >= TIMED_OUT,
            "error_class": "timeout" if i < TIMED_OUT else None,
            "input_tokens": 0 if i < TIMED_OUT else 180 + i % 40,
            "output_tokens": 0 if i < TIMED_OUT else 2,
        }
        for i in range(BATCH)
    ]
    for item in items:
        if item["error_class"] is None:
            del item["error_class"]
    response = httpx.post(
        f"{url}/v1/outcomes",
        json={"outcomes": items},
        headers={"authorization": f"Bearer {token}"},
    )
    response.raise_for_status()

"""`modelops budgets …`: spending limits of MODELOPS_TEAM (or one of its models) per UTC day or
month. Soft ones send one `budget.crossed` notice per period; hard ones make the gateway
refuse requests (429) until the period ends."""

from __future__ import annotations

from typing import Annotated

import typer

from modelops.cli.context import runtime
from modelops.cli.output import print_json, print_table, say
from registry.domain import Team
from registry.orm import utcnow
from registry.usage.budgets import BudgetRepository, BudgetStatus, budget_status, parse_limit
from registry.usage.tables import BudgetKind, BudgetPeriod

app = typer.Typer(
    help="Budgets of MODELOPS_TEAM per team or model, per day or month: soft or hard.",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
MICRO = 1_000_000


@app.command("set")
def set_cmd(
    name: Annotated[str, typer.Argument(help="The budget's name (lowercase, digits, '-').")],
    limit: Annotated[str, typer.Option("--limit", help="US dollars per period, e.g. 25.00.")],
    period: Annotated[BudgetPeriod, typer.Option("--period", help="day or month (UTC).")],
    kind: Annotated[
        BudgetKind, typer.Option("--kind", help="soft: one alert; hard: the gateway refuses.")
    ],
    model: Annotated[
        str | None, typer.Option("--model", help="Only this model's spend (default: the team's).")
    ] = None,
    actor: Annotated[str, typer.Option("--actor", help="Who sets it.")] = "cli",
    json: JsonFlag = False,
) -> None:
    """Create a budget, or change an existing one's limit, period, kind or model."""
    micro = parse_limit(limit)
    with runtime() as rt, rt.transaction() as session:
        team = rt.team(session, create=True)
        assert team is not None
        budget = BudgetRepository(session, team).set(
            name, micro, period.value, kind.value, model, actor
        )
        status = budget_status(session, budget, utcnow())
    if json:
        print_json(status_json(status))
        return
    say(f"budget {budget.name}: {_describe(status)}")


@app.command("list")
def list_cmd(json: JsonFlag = False) -> None:
    """The team's budgets and what each has spent of its current period."""
    with runtime() as rt, rt.transaction() as session:
        found = rt.team(session)
        team = found if found is not None else Team(id=-1, name=rt.settings.team)
        statuses = BudgetRepository(session, team).statuses(utcnow())
    if json:
        print_json([status_json(s) for s in statuses])
        return
    columns = ["name", "kind", "scope", "period", "since", "spent USD", "limit USD", "spent %"]
    rows = [
        (s.budget.name, s.budget.kind, s.budget.model or "team", s.budget.period,
         s.period_start.isoformat(), f"{s.spent_micro_usd / MICRO:.2f}",
         f"{s.budget.limit_micro_usd / MICRO:.2f}", f"{s.fraction:.0%}")
        for s in statuses
    ]  # fmt: skip
    print_table(f"budgets of team {rt.settings.team}", columns, rows)


@app.command("remove")
def remove_cmd(name: Annotated[str, typer.Argument(help="The budget's name.")]) -> None:
    """Remove a budget (a hard one stops refusing at the gateways' next re-read)."""
    with runtime() as rt, rt.transaction() as session:
        BudgetRepository(session, rt.require_team(session)).remove(name)
    say(f"budget {name} removed")


def status_json(status: BudgetStatus) -> dict[str, object]:
    b = status.budget
    return {
        "name": b.name,
        "kind": b.kind.value,
        "scope": b.scope.value,
        "model": b.model,
        "period": b.period.value,
        "period_start": status.period_start.isoformat(),
        "limit_micro_usd": b.limit_micro_usd,
        "spent_micro_usd": status.spent_micro_usd,
        "fraction": round(status.fraction, 6),
    }


def _describe(status: BudgetStatus) -> str:
    b = status.budget
    return (
        f"{b.kind.value}, {b.limit_micro_usd / MICRO:.2f} USD per {b.period.value} for "
        f"{'model ' + b.model if b.model else 'the team'}; spent "
        f"{status.spent_micro_usd / MICRO:.2f} USD since {status.period_start}"
    )

"""`modelops usage`: the team's daily usage and cost, grouped by model, endpoint, version or
provider key; `--check` recomputes each day from raw outcomes and reports any difference."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer

from modelops.cli.context import runtime
from modelops.cli.errors import BadInput, CliError
from modelops.cli.output import print_json, print_table, say
from registry.domain import Team
from registry.orm import utcnow
from registry.usage.daily import UsageBy, UsageRecord, daily_usage
from registry.usage.reconcile import Reconciliation, reconcile_day

DEFAULT_DAYS = 7
MAX_DAYS = 400
MICRO = 1_000_000


def _day(value: str | None, name: str, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{name} must be a UTC day as YYYY-MM-DD, got {value[:40]!r}") from None


def usage(
    by: Annotated[
        UsageBy, typer.Option("--by", help="Group by model, endpoint, version or (provider) key.")
    ] = UsageBy.MODEL,
    since: Annotated[
        str | None,
        typer.Option("--since", help=f"First UTC day (default: {DEFAULT_DAYS - 1} days ago)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last UTC day (default: today).")
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Recompute each day from raw outcomes; exit 1 on a difference."
        ),
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Requests, errors, tokens and cost (USD) of MODELOPS_TEAM per UTC day."""
    today = utcnow().date()
    last = _day(until, "--until", today)
    first = _day(since, "--since", last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        raise BadInput(f"--since ({first}) is after --until ({last})")
    if (last - first).days >= MAX_DAYS:
        raise BadInput(f"at most {MAX_DAYS} days at once; narrow --since/--until")
    with runtime() as rt, rt.transaction() as session:
        found = rt.team(session)
        team = found if found is not None else Team(id=-1, name=rt.settings.team)
        records = daily_usage(session, team, first, last, by)
        checks = [reconcile_day(session, team, first + timedelta(days=i))
                  for i in range((last - first).days + 1)] if check else []  # fmt: skip
    if json:
        body: object = [usage_json(r, by) for r in records]
        if check:
            body = {"usage": body, "reconciliation": [_check_json(c) for c in checks]}
        print_json(body)
    else:
        _print(records, by, f"usage of team {rt.settings.team}, {first} to {last}")
        for result in checks:
            _say_check(result)
    if any(not c.equal for c in checks):
        raise CliError("daily usage differs from the raw outcomes (see above)")


def usage_json(record: UsageRecord, by: UsageBy) -> dict[str, object]:
    return {
        "day": record.day.isoformat(),
        by.value: record.group,
        "requests": record.requests,
        "errors": record.errors,
        "input_tokens": record.input_tokens,
        "cached_input_tokens": record.cached_input_tokens,
        "output_tokens": record.output_tokens,
        "cost_micro_usd": record.cost_micro_usd,
        "cost_usd": record.cost_micro_usd / MICRO,
    }


def _print(records: list[UsageRecord], by: UsageBy, title: str) -> None:
    columns = ["day", by.value, "requests", "errors", "input tok", "cached", "output tok"]
    rows = [
        (r.day.isoformat(), r.group, r.requests, r.errors, r.input_tokens,
         r.cached_input_tokens, r.output_tokens, f"{r.cost_micro_usd / MICRO:.6f}")
        for r in records
    ]  # fmt: skip
    print_table(title, [*columns, "cost USD"], rows)
    if records:
        total = sum(r.cost_micro_usd for r in records)
        say(f"total: {sum(r.requests for r in records)} requests, {total / MICRO:.6f} USD")


def _check_json(result: Reconciliation) -> dict[str, object]:
    return {
        "day": result.day.isoformat(),
        "equal": result.equal,
        "requests": result.requests,
        "cost_micro_usd": result.cost_micro_usd,
        "differences": [vars(d) for d in result.differences],
    }


def _say_check(result: Reconciliation) -> None:
    if result.equal:
        say(f"{result.day}: daily usage equals the raw outcomes ({result.requests} requests)")
        return
    say(f"{result.day}: {len(result.differences)} differences from the raw outcomes:")
    for d in result.differences[:20]:
        say(
            f"  endpoint {d.endpoint_id} version {d.model_version_id} key {d.provider_key_id}: "
            f"{d.column} folded {d.folded}, recomputed {d.recomputed}"
        )


__all__ = ["usage", "usage_json"]

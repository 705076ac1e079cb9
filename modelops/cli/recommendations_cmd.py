"""`modelops recommendations`: what the measured data of MODELOPS_TEAM says to change, each
with its evidence and the test behind it."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from modelops.cli.context import runtime
from modelops.cli.errors import BadInput
from modelops.cli.output import print_json, say
from registry.domain import Team
from registry.orm import utcnow
from registry.usage.recommendations import Period, Recommendation, recommendations

MAX_DAYS = 90


def recommendations_command(
    days: Annotated[
        int, typer.Option("--days", help=f"How many days back to look (1 to {MAX_DAYS}).")
    ] = 7,
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Cheaper non-inferior versions, SLO breaches, saturated keys, idle versions, paused
    rollouts."""
    if not 1 <= days <= MAX_DAYS:
        raise BadInput(f"--days must be from 1 to {MAX_DAYS}, got {days}")
    now = utcnow()
    period = Period(now - timedelta(days=days), now)
    with runtime() as rt, rt.transaction() as session:
        found = rt.team(session)
        team = found if found is not None else Team(id=-1, name=rt.settings.team)
        listed = recommendations(session, team, period)
    if json:
        print_json([recommendation_json(r) for r in listed])
        return
    if not listed:
        say(f"no recommendations for team {rt.settings.team} over the last {days} days")
        return
    for number, item in enumerate(listed, 1):
        say(f"{number}. {item.kind.value}: {item.title}")
        say(f"   test: {item.test}")


def recommendation_json(item: Recommendation) -> dict[str, object]:
    saving = item.monthly_saving_micro_usd
    return {
        "kind": item.kind.value,
        "subject": item.subject,
        "title": item.title,
        "evidence": item.evidence,
        "test": item.test,
        "monthly_saving_micro_usd": saving,
        "monthly_saving_usd": None if saving is None else saving / 1_000_000,
    }

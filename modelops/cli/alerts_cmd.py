"""`modelops alerts …`: the team's alerts (list, show, acknowledge, resolve) and the catalog
rules they come from."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from modelops.cli.context import runtime
from modelops.cli.errors import BadInput
from modelops.cli.output import Cell, print_json, print_table, say
from modelops.runtime import Runtime
from registry.alerts.domain import Alert
from registry.alerts.repository import AlertRepository
from registry.alerts.rules import AlertRule, team_rules
from registry.catalog_alerts import format_duration, parse_duration
from registry.domain import Team

app = typer.Typer(
    help="Alerts of MODELOPS_TEAM: list, show, acknowledge, resolve; the rules behind them.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AlertId = Annotated[int, typer.Argument(metavar="ID", help="Alert id (see `alerts list`).")]
Actor = Annotated[str, typer.Option("--actor", help="Who is doing this (kept on the alert).")]
COLUMNS = ["id", "state", "severity", "rule", "where", "since", "seen", "level", "acknowledged"]
COLUMNS += ["summary"]


@app.command("list")
def list_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Resolved alerts too.")] = False,
    json: JsonFlag = False,
) -> None:
    """Open alerts (pending, firing, acknowledged), most severe first."""
    with runtime() as rt, rt.transaction() as session:
        alerts = AlertRepository(session, _team(rt, session)).list(include_resolved=all_)
    if json:
        print_json(alerts)
        return
    what = "alerts" if all_ else "open alerts"
    print_table(f"{what} of team {rt.settings.team}", COLUMNS, [_row(a) for a in alerts])


def _row(alert: Alert) -> tuple[Cell, ...]:
    acknowledged = (
        f"{alert.acknowledged_by} until {alert.ack_until:%H:%M} UTC"
        if alert.acknowledged_by and alert.ack_until
        else None
    )
    return (
        alert.id,
        alert.state,
        alert.severity,
        f"{alert.model}/{alert.rule}",
        alert.where,
        alert.fired_at or alert.first_seen_at,
        alert.count,
        alert.level,
        acknowledged,
        alert.annotations.get("summary"),
    )


@app.command("show")
def show_cmd(alert_id: AlertId, json: JsonFlag = False) -> None:
    """One alert: its labels, timeline and every notification it caused."""
    with runtime() as rt, rt.transaction() as session:
        alerts = AlertRepository(session, _team(rt, session))
        alert, sent = alerts.get(alert_id), alerts.notifications(alert_id)
    if json:
        print_json({"alert": alert, "notifications": sent})
        return
    say(f"alert {alert.id}: {alert.model}/{alert.rule} is {alert.state} ({alert.severity})")
    for name, value in _facts(alert).items():
        if value is not None:
            say(f"  {name}: {_plain(value)}")
    rows = [
        (n.id, n.channel, n.event_type, n.status, n.attempts, n.last_status_code, n.last_error)
        for n in sent
    ]
    columns = ["id", "channel", "event", "status", "attempts", "last status", "last error"]
    print_table("notifications", columns, rows)


def _facts(alert: Alert) -> dict[str, object]:
    acknowledged = resolved = None
    if alert.acknowledged_by:
        acknowledged = f"by {alert.acknowledged_by} until {alert.ack_until}"
    if alert.resolved_at:
        resolved = f"{alert.resolved_at} by {alert.resolved_by or 'the monitor'}"
    return {
        "labels": ", ".join(f"{name}={value}" for name, value in alert.labels.items()),
        "fingerprint": alert.fingerprint,
        "summary": alert.annotations.get("summary"),
        "first seen": alert.first_seen_at,
        "fired": alert.fired_at,
        "last seen": alert.last_seen_at,
        "acknowledged": acknowledged,
        "resolved": resolved,
        "escalation level": alert.level,
    }


def _plain(value: object) -> str:
    return str(value)


@app.command("ack")
def ack_cmd(
    alert_id: AlertId,
    actor: Actor,
    for_: Annotated[
        str | None,
        typer.Option("--for", help="How long, e.g. 30m or 2h (default: the rule's ack_timeout)."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Acknowledge a firing alert: no repeats or escalation until it expires (then it fires
    again)."""
    seconds = _duration("--for", for_) if for_ is not None else None
    with runtime() as rt, rt.transaction() as session:
        alert = AlertRepository(session, _team(rt, session)).acknowledge(
            alert_id, actor, for_seconds=seconds
        )
    if json:
        print_json(alert)
        return
    until = f"{alert.ack_until:%Y-%m-%d %H:%M} UTC" if alert.ack_until else "-"
    say(f"alert {alert.id} acknowledged by {_plain(actor)} until {until}")


@app.command("resolve")
def resolve_cmd(alert_id: AlertId, actor: Actor, json: JsonFlag = False) -> None:
    """Resolve an alert by hand (if its condition still holds, a new alert opens)."""
    with runtime() as rt, rt.transaction() as session:
        alert = AlertRepository(session, _team(rt, session)).resolve(alert_id, actor)
    if json:
        print_json(alert)
        return
    say(f"alert {alert.id} resolved by {_plain(actor)}")


@app.command("rules")
def rules_cmd(json: JsonFlag = False) -> None:
    """The alert rules of the team's models, as `catalog sync` stored them."""
    with runtime() as rt, rt.transaction() as session:
        rules = team_rules(session, _team(rt, session))
    if json:
        print_json([_rule_json(rule) for rule in rules])
        return
    columns = ["model", "rule", "kind", "severity", "condition", "endpoint", "for"]
    columns += ["keep firing", "min samples", "escalation"]
    print_table(f"alert rules of team {rt.settings.team}", columns, [_rule_row(r) for r in rules])


def _rule_row(rule: AlertRule) -> tuple[Cell, ...]:
    spec = rule.spec
    return (
        rule.model,
        spec.name,
        spec.kind,
        spec.severity,
        rule.describe(),
        spec.endpoint or "all",
        format_duration(spec.for_),
        format_duration(spec.keep_firing_seconds),
        spec.min_samples if spec.kind in ("threshold", "burn_rate") else None,
        ", ".join(format_duration(delay) for delay in spec.escalation) or None,
    )


def _rule_json(rule: AlertRule) -> dict[str, object]:
    return {
        "model": rule.model,
        "condition": rule.describe(),
        **rule.spec.model_dump(mode="json", exclude_none=True),
    }


def _duration(option: str, value: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise BadInput(f"{option}: {exc}") from None


def _team(rt: Runtime, session: Session) -> Team:
    """The CLI's team; one not created yet has no alerts (id -1 matches nothing)."""
    team = rt.team(session)
    return team if team is not None else Team(id=-1, name=rt.settings.team)

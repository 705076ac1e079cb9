"""`modelops channels …`: where the team's notifications go (signed webhook, Slack-compatible
webhook, PagerDuty Events v2). Secrets come in on stdin, never as arguments."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from pydantic import SecretStr
from sqlalchemy.orm import Session

from modelops.cli.context import runtime
from modelops.cli.errors import BadInput, CliError
from modelops.cli.output import Cell, print_json, print_table, say, stderr
from modelops.runtime import Runtime
from registry.alerts.channel_spec import NewChannel, check_url_option, new_webhook_secret
from registry.alerts.channels import ChannelRepository, rewrap_channels
from registry.alerts.domain import Channel, ChannelKind, Severity
from registry.catalog_alerts import format_duration, parse_duration
from registry.domain import Team
from registry.keys import MasterKeyring
from tasks.monitor_delivery import test_channel

app = typer.Typer(
    help="Notification channels of MODELOPS_TEAM: add (secret on stdin), list, test, enable, "
    "disable; rotate-master re-wraps their secrets.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ChannelName = Annotated[str, typer.Argument(help="Channel name, e.g. oncall.")]
MAX_SECRET_BYTES = 65_536
SECRET_PROMPTS = {
    ChannelKind.WEBHOOK: "signing secret (whsec_…)",
    ChannelKind.SLACK: "Slack-compatible incoming webhook URL",
    ChannelKind.PAGERDUTY: "PagerDuty routing key",
}


@app.command("add")
def add_cmd(
    name: ChannelName,
    kind: Annotated[
        ChannelKind, typer.Option("--kind", case_sensitive=False, help="Channel kind.")
    ],
    url: Annotated[
        str | None,
        typer.Option(help="Where to post (webhook; PagerDuty defaults to its Events API)."),
    ] = None,
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event", help="Events to send (repeatable; patterns such as alert.*). Default alert.*"
        ),
    ] = None,
    severity: Annotated[
        list[Severity] | None,
        typer.Option("--severity", case_sensitive=False, help="Severities to send (default all)."),
    ] = None,
    level: Annotated[
        int, typer.Option(help="Escalation level: 1 hears first, 2 after the rule's delay…")
    ] = 1,
    send_resolved: Annotated[
        bool | None,
        typer.Option(
            "--send-resolved/--no-send-resolved",
            help="Tell it when an alert resolves (default: yes, no for Slack).",
        ),
    ] = None,
    repeat_interval: Annotated[
        str, typer.Option(help="Repeat a still-firing alert after this long (0 = never).")
    ] = "4h",
    generate_secret: Annotated[
        bool,
        typer.Option(help="Webhook: make a signing secret and print it once, instead of stdin."),
    ] = False,
    json: JsonFlag = False,
    stray: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
) -> None:
    """Add a channel; its secret is read from stdin (hidden prompt on a terminal)."""
    if stray:
        # Never echo them: a stray argument is most likely the secret itself.
        raise BadInput(
            f"unexpected argument(s) after {name!r} (not shown, they may hold a secret): "
            "channel secrets are read from stdin, never from arguments, which end up in "
            "shell history and process listings"
        )
    check_url_option(kind, url)
    if generate_secret and kind is not ChannelKind.WEBHOOK:
        raise BadInput("--generate-secret: only webhook channels have a signing secret to make")
    with runtime() as rt:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        secret = new_webhook_secret() if generate_secret else _read_secret(kind)
        fields: dict[str, object] = {"name": name, "kind": kind, "url": url, "level": level}
        fields |= {"secret": SecretStr(secret), "send_resolved": send_resolved}
        fields |= {"repeat_interval_seconds": _repeat(repeat_interval)}
        fields |= {"events": event} if event else {}
        fields |= {"severities": severity} if severity else {}
        new = NewChannel.model_validate(fields)
        with rt.transaction() as session:
            team = rt.team(session, create=True)
            assert team is not None  # create=True always returns the team
            channel = ChannelRepository(session, team, ring).add(new)
    if json:
        once = {"secret": secret} if generate_secret else {}
        print_json(channel.model_dump(mode="json") | once)
        return
    say(f"added {channel.kind} channel {channel.name} ({channel.url}) as id {channel.id}")
    if generate_secret:
        stderr.print("signing secret (shown once; give it to the receiver):", markup=False)
        print(secret)


def _repeat(value: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise BadInput(f"--repeat-interval: {exc}") from None


def _read_secret(kind: ChannelKind) -> str:
    if sys.stdin.isatty():
        return str(typer.prompt(SECRET_PROMPTS[kind], hide_input=True))
    secret = sys.stdin.read(MAX_SECRET_BYTES).strip()
    if not secret:
        raise BadInput(
            f"no {SECRET_PROMPTS[kind]} on stdin: pipe it in"
            + (" (or pass --generate-secret)" if kind is ChannelKind.WEBHOOK else "")
        )
    return secret


@app.command("list")
def list_cmd(json: JsonFlag = False) -> None:
    """Channels: kind, where they post, what they take, status (never their secrets)."""
    with runtime() as rt, rt.transaction() as session:
        channels = ChannelRepository(session, _team(rt, session)).list()
    if json:
        print_json(channels)
        return
    columns = ["id", "name", "kind", "url", "events", "severities", "level", "resolved"]
    columns += ["repeat", "status", "disabled because"]
    print_table(f"channels of team {rt.settings.team}", columns, [_row(c) for c in channels])


def _row(channel: Channel) -> tuple[Cell, ...]:
    return (
        channel.id,
        channel.name,
        channel.kind,
        channel.url,
        ", ".join(channel.events),
        ", ".join(channel.severities),
        channel.level,
        channel.send_resolved,
        format_duration(channel.repeat_interval_seconds),
        channel.status,
        channel.disabled_reason,
    )


@app.command("test")
def test_cmd(name: ChannelName, json: JsonFlag = False) -> None:
    """Send a test notification now (one attempt); exit 1 unless it was delivered."""
    with runtime() as rt:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        with rt.transaction() as session:
            team = rt.require_team(session)
        result = test_channel(rt.sessions, ring, team, name)
    if json:
        print_json(result)
    elif result.status == "delivered":
        say(f"channel {result.channel}: delivered ({result.detail}), message {result.message_id}")
    if result.status != "delivered":
        raise CliError(f"channel {result.channel}: not delivered: {result.detail}")


@app.command("enable")
def enable_cmd(name: ChannelName, json: JsonFlag = False) -> None:
    """Put a disabled channel (by a 410, say) back to work."""
    with runtime() as rt, rt.transaction() as session:
        channel = ChannelRepository(session, rt.require_team(session)).enable(name)
    if json:
        print_json(channel)
    else:
        say(f"channel {channel.name} is active again")


@app.command("disable")
def disable_cmd(
    name: ChannelName,
    reason: Annotated[str, typer.Option(help="Why; kept on the channel.")] = (
        "disabled by an operator"
    ),
    json: JsonFlag = False,
) -> None:
    """Stop sending to a channel; what it still had waiting is skipped."""
    with runtime() as rt, rt.transaction() as session:
        channel = ChannelRepository(session, rt.require_team(session)).disable(name, reason)
    if json:
        print_json(channel)
    else:
        say(f"channel {channel.name} disabled: {channel.disabled_reason or ''}")


@app.command("rotate-master")
def rotate_master_cmd(json: JsonFlag = False) -> None:
    """Re-wrap every channel's secret (all teams) onto the newest master key; safe to re-run."""
    with runtime() as rt, rt.transaction() as session:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        report = rewrap_channels(session, ring)
    if json:
        print_json(report)
    else:
        say(
            f"re-wrapped {report.rewrapped} channel secrets onto master {ring.newest.version}; "
            f"{report.already_current} were already on it"
        )
    for problem in report.unreadable:
        stderr.print(f"channel {problem}", markup=False)
    if report.unreadable:
        raise CliError(f"{len(report.unreadable)} channel secrets could not be re-wrapped")


def _team(rt: Runtime, session: Session) -> Team:
    """The CLI's team; one not created yet has no channels (id -1 matches nothing)."""
    team = rt.team(session)
    return team if team is not None else Team(id=-1, name=rt.settings.team)

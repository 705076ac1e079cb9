"""`modelops approvers …`: enrol the people a policy names, one authenticator secret each."""

from __future__ import annotations

import io
from typing import Annotated

import typer

from modelops.cli.context import runtime
from modelops.cli.output import print_json, print_table, say, stderr, stdout
from registry.approvers.repository import ApproverRepository, NewEnrolment
from registry.keys.crypto import MasterKeyring
from registry.model_repository import ModelRepository

app = typer.Typer(
    help="Approvers: enrol the people a policy names; each proves who they are with a "
    "one-time code (TOTP) when answering an approval."
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@app.command("enroll")
def enroll_cmd(
    name: Annotated[str, typer.Argument(help="The approver's name, as the policy lists it.")],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Issue a new secret; the old one stops working at once."),
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Enrol NAME: prints an otpauth URI and a QR code for their authenticator app, once."""
    with runtime() as rt:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        with rt.transaction() as session:
            team = rt.require_team(session)
            new = ApproverRepository(session, team, ring).enroll(name, replace=replace)
            named = _named_in_a_policy(ModelRepository(session, team), new.enrolment.name)
    if json:
        print_json(
            {
                "name": new.enrolment.name,
                "enrolled_at": new.enrolment.enrolled_at,
                "otpauth_uri": new.uri.get_secret_value(),
                "replaced": new.replaced,
            }
        )
        return
    _show_once(new, team_name=rt.settings.team)
    if not named:
        say(f"note: no policy of team {rt.settings.team} names {new.enrolment.name!r} yet")


def _show_once(new: NewEnrolment, *, team_name: str) -> None:
    import segno  # only this command draws QR codes

    who = new.enrolment.name
    say(f"enrolled {who} in team {team_name} (enrolment #{new.enrolment.id})")
    if new.replaced is not None:
        say(f"the previous secret (enrolment #{new.replaced}) no longer works")
    say("scan this with the authenticator app now; it is shown only this once:")
    drawn = io.StringIO()
    segno.make(new.uri.get_secret_value(), error="m").terminal(out=drawn, compact=True)
    stdout.print(drawn.getvalue(), markup=False, highlight=False, end="")
    stdout.print(new.uri.get_secret_value(), markup=False, highlight=False, soft_wrap=True)


def _named_in_a_policy(models: ModelRepository, name: str) -> bool:
    return any(
        name in policy.approvers for model in models.all() for policy in model.policy.values()
    )


@app.command("list")
def list_cmd(
    json: JsonFlag = False,
    all_: Annotated[bool, typer.Option("--all", help="Include replaced enrolments.")] = False,
) -> None:
    """List the team's enrolled approvers (never their secrets)."""
    with runtime() as rt, rt.transaction() as session:
        team = rt.team(session)
        enrolments = ApproverRepository(session, team).list(include_replaced=all_) if team else []
    if json:
        print_json(enrolments)
        return
    print_table(
        f"approvers of team {rt.settings.team}",
        ["name", "enrolment", "enrolled", "replaced", "master key"],
        [(e.name, e.id, e.enrolled_at, e.replaced_at, e.kek_version) for e in enrolments],
    )


@app.command("rotate-master")
def rotate_master_cmd(json: JsonFlag = False) -> None:
    """Re-wrap every approver's secret (all teams) onto the newest master key; safe to re-run."""
    from registry.approvers.rotation import rewrap_enrolments

    with runtime() as rt:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        with rt.transaction() as session:
            report = rewrap_enrolments(session, ring)
    if json:
        print_json(report)
    else:
        say(
            f"re-wrapped {report.rewrapped} approver secrets onto master {ring.newest.version}; "
            f"{report.already_current} were already on it"
        )
    for problem in report.unreadable:
        stderr.print(f"unreadable (re-enrol with --replace): {problem}", markup=False)
    if report.unreadable:
        raise typer.Exit(1)

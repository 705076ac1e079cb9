"""`modelops keys …`: the team's provider API keys and the master key they are sealed under.

Secrets come in on stdin (a hidden prompt on a terminal) or from a named environment
variable, never as arguments; only labels and last four characters ever go out.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from modelops.cli.arguments import INT32_MAX, INT32_MIN, single_line
from modelops.cli.context import load_settings, runtime
from modelops.cli.errors import BadInput, CliError
from modelops.cli.output import Cell, print_json, print_table, say, stderr
from modelops.runtime import Runtime
from modelops.settings import parse_master_keys
from registry.domain import Team
from registry.keys import (
    KeyRepository,
    KeyStatus,
    MasterKeyring,
    ProviderKey,
    rotate_master,
)
from registry.keys.crypto import fingerprint, new_master_key
from registry.keys.rotation import DEFAULT_BATCH, UnreadableKey, verify_keys

app = typer.Typer(
    help="Provider API keys of MODELOPS_TEAM: add, list, disable, enable; rotate the master key.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
MAX_SECRET_BYTES = 65_536


@app.command("add")
def add_cmd(
    provider: Annotated[str, typer.Argument(help="Provider name, e.g. openai.")],
    label: Annotated[
        str,
        typer.Option(
            "--label", help="A name for the key, unique per provider.", callback=single_line(64)
        ),
    ],
    priority: Annotated[
        int, typer.Option(help="Higher is used first.", min=INT32_MIN, max=INT32_MAX)
    ] = 0,
    from_env: Annotated[
        str | None, typer.Option("--from-env", help="Read the key from this environment variable.")
    ] = None,
    json: JsonFlag = False,
    stray: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
) -> None:
    """Add a key; it is read from stdin (hidden prompt on a terminal) or --from-env VAR."""
    if stray:
        # Never echo them: a stray argument is most likely the key itself.
        raise BadInput(
            f"unexpected argument(s) after {provider!r} (not shown, they may hold the key): "
            "keys are read from stdin or --from-env VAR, never from arguments, which end up "
            "in shell history and process listings"
        )
    with runtime() as rt:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        secret = _read_secret(provider, from_env)
        with rt.transaction() as session:
            team = rt.team(session, create=True)
            assert team is not None  # create=True always returns the team
            key = KeyRepository(session, team, ring).add(provider, label, secret, priority)
    if json:
        print_json(key)
    else:
        say(f"added key {key.label} (…{key.last4}) for {key.provider} as id {key.id}")


@app.command("list")
def list_cmd(
    provider: Annotated[str | None, typer.Argument(help="Only this provider's keys.")] = None,
    json: JsonFlag = False,
) -> None:
    """List keys: status, cooldown deadline, usage, last four characters (never the key)."""
    with runtime() as rt, rt.transaction() as session:
        keys = KeyRepository(session, _team(rt, session)).list(provider)
    if json:
        print_json(keys)
        return
    print_table(f"keys of team {rt.settings.team}", COLUMNS, [_row(key) for key in keys])


COLUMNS = ["id", "provider", "label", "status", "priority", "cooling until", "last used"]
COLUMNS += ["errors", "last4", "disabled because"]


def _row(key: ProviderKey) -> tuple[Cell, ...]:
    cooling_until = key.cooldown_until if key.status is KeyStatus.COOLING else None
    return (
        key.id,
        key.provider,
        key.label,
        key.status,
        key.priority,
        cooling_until,
        key.last_used_at,
        key.error_count,
        f"…{key.last4}",
        key.disabled_reason,
    )


@app.command("disable")
def disable_cmd(
    key_id: Annotated[
        int, typer.Argument(metavar="ID", help="Key id (see `keys list`).", min=1, max=INT32_MAX)
    ],
    reason: Annotated[
        str,
        typer.Option(help="Why; kept on the key and in its events.", callback=single_line(4000)),
    ] = "disabled by an operator",
    json: JsonFlag = False,
) -> None:
    """Take a key out of rotation until `keys enable`."""
    with runtime() as rt, rt.transaction() as session:
        key = KeyRepository(session, _team(rt, session)).disable(key_id, reason)
    _report(key, f"disabled key {key.id} ({key.label} …{key.last4}): {reason}", json)


@app.command("enable")
def enable_cmd(
    key_id: Annotated[
        int, typer.Argument(metavar="ID", help="Key id (see `keys list`).", min=1, max=INT32_MAX)
    ],
    json: JsonFlag = False,
) -> None:
    """Put a key back in rotation (a running rate-limit cooldown still runs out)."""
    with runtime() as rt, rt.transaction() as session:
        key = KeyRepository(session, _team(rt, session)).enable(key_id)
    message = f"enabled key {key.id} ({key.label} …{key.last4})"
    if key.cooldown_until is not None and key.status == "cooling":
        message += f"; it is still cooling until {key.cooldown_until.isoformat()}"
    _report(key, message, json)


@app.command("rotate-master")
def rotate_master_cmd(
    batch_size: Annotated[int, typer.Option(min=1, help="Keys per transaction.")] = DEFAULT_BATCH,
    json: JsonFlag = False,
) -> None:
    """Re-wrap every key (all teams) onto the newest master key; safe to re-run, resumes."""
    with runtime() as rt:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        report = rotate_master(rt.sessions, ring, batch_size=batch_size)
    if json:
        print_json(report)
    else:
        target = f"master {report.target_version} (fingerprint {report.target_fingerprint})"
        say(
            f"re-wrapped {report.rewrapped} keys onto {target}; {report.already_current} were "
            f"already on it; {report.remaining} remain on older masters"
        )
    _report_unreadable(report.unreadable, "could not be re-wrapped")


@app.command("verify")
def verify_cmd(json: JsonFlag = False) -> None:
    """Check that every key (all teams) opens with MODELOPS_MASTER_KEY; exit 1 if any fails."""
    with runtime() as rt, rt.transaction() as session:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        checked, unreadable = verify_keys(session, ring)
    if json:
        print_json({"checked": checked, "unreadable": unreadable})
    elif not unreadable:
        say(f"all {checked} keys open with MODELOPS_MASTER_KEY (newest {ring.newest.version})")
    _report_unreadable(unreadable, "cannot be opened")


@app.command("new-master")
def new_master_cmd() -> None:
    """Print a fresh master key on stdout (how to rotate onto it goes to stderr)."""
    versions = _configured_versions()
    version = _next_version(versions)
    key = new_master_key()
    print(f"{version}:{key}")
    short = fingerprint(parse_master_keys(key)[0][1])
    if not versions:
        stderr.print(
            f"new master key {version} (fingerprint {short}) printed above; "
            "export it as MODELOPS_MASTER_KEY and keep a copy somewhere safe",
            markup=False,
        )
        return
    stderr.print(
        f"new master key {version} (fingerprint {short}) printed above. To rotate onto it:\n"
        f'  1. put it first, keeping the old ones: MODELOPS_MASTER_KEY="{version}:<key>,'
        '$MODELOPS_MASTER_KEY"\n'
        "  2. run `modelops keys rotate-master` (re-run it if interrupted: it resumes)\n"
        "  3. when it reports 0 remaining, drop the old entries",
        markup=False,
    )


def _read_secret(provider: str, from_env: str | None) -> str:
    if from_env is not None:
        value = os.environ.get(from_env)
        if value is None:
            raise BadInput(f"--from-env {from_env}: that environment variable is not set")
        return value
    if sys.stdin.isatty():
        return str(typer.prompt(f"{provider} API key", hide_input=True))
    return sys.stdin.read(MAX_SECRET_BYTES)


def _team(rt: Runtime, session: Session) -> Team:
    """The CLI's team; one not created yet owns no keys (id -1 matches nothing)."""
    team = rt.team(session)
    return team if team is not None else Team(id=-1, name=rt.settings.team)


def _report(key: ProviderKey, message: str, json: bool) -> None:
    if json:
        print_json(key)
    else:
        say(message)


def _report_unreadable(unreadable: list[UnreadableKey], what: str) -> None:
    if not unreadable:
        return
    for key in unreadable:
        stderr.print(
            f"key {key.key_id} ({key.team}/{key.provider} {key.label} …{key.last4}, master "
            f"{key.kek_version}) {what}: {key.problem}",
            markup=False,
        )
    raise CliError(f"{len(unreadable)} keys {what}; see above")


def _configured_versions() -> list[str]:
    try:
        master = load_settings().master_key
    except BadInput:
        stderr.print("MODELOPS_MASTER_KEY (or another setting) is invalid; ignoring it here")
        return []
    if master is None:
        return []
    return [version for version, _ in parse_master_keys(master.get_secret_value())]


def _next_version(versions: list[str]) -> str:
    numbers = [int(v[1:]) for v in versions if v.startswith("v") and v[1:].isdigit()]
    candidate = max([*numbers, len(versions)], default=0) + 1
    while f"v{candidate}" in versions:
        candidate += 1
    return f"v{candidate}"

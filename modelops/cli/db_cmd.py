"""`modelops db …`: migrate the schema and report where it stands."""

from __future__ import annotations

from typing import Annotated

import typer

from modelops.cli.context import runtime
from modelops.cli.output import print_json, say
from registry.schema import current_revision, head_revision, upgrade

app = typer.Typer(help="Database schema: upgrade to the code's head, show the current revision.")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@app.command("upgrade")
def upgrade_cmd(json: JsonFlag = False) -> None:
    """Apply every pending migration, creating the database if needed (safe to run again)."""
    with runtime(check_schema=False, create=True) as rt:
        before, after = upgrade(rt.engine)
        url = rt.engine.url.render_as_string(hide_password=True)
    if json:
        print_json({"from": before, "to": after, "database": url})
    elif before == after:
        say(f"database already at {after} ({url})")
    else:
        say(f"database upgraded {before or 'empty'} -> {after} ({url})")


@app.command("current")
def current_cmd(json: JsonFlag = False) -> None:
    """Show the database's schema revision and the code's head."""
    with runtime(check_schema=False) as rt:
        current = current_revision(rt.engine)
    head = head_revision()
    if json:
        print_json({"current": current, "head": head, "up_to_date": current == head})
    else:
        state = "up to date" if current == head else "behind: run `modelops db upgrade`"
        say(f"current {current or 'empty'}, head {head} ({state})")

"""`modelops tokens …`: the team's API tokens for the gateway. A token is printed once, when
created, and stored only as its SHA-256; listings never show it."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from modelops.cli.arguments import INT32_MAX, single_line
from modelops.cli.context import runtime
from modelops.cli.errors import BadInput
from modelops.cli.output import print_json, print_table, say, stderr
from modelops.runtime import Runtime
from registry.domain import Team
from registry.errors import InvalidInputError
from registry.tokens import ApiToken, Scope, TokenRepository, parse_scopes

app = typer.Typer(
    help="API tokens of MODELOPS_TEAM for the gateway: create (shown once), list, revoke.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SCOPES = ", ".join(scope.value for scope in Scope)


@app.command("create")
def create_cmd(
    label: Annotated[
        str,
        typer.Option(
            "--label", help="A name for the token, unique per team.", callback=single_line(64)
        ),
    ],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", metavar="S", help=f"Repeatable; one of {SCOPES}. Default: invoke."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Create a token and print it once on stdout: store it now, it cannot be shown again."""
    scopes = _scopes(scope or [Scope.INVOKE.value])
    with runtime() as rt, rt.transaction() as session:
        team = rt.team(session, create=True)
        assert team is not None  # create=True always returns the team
        try:
            created = TokenRepository(session, team).create(label, scopes)
        except InvalidInputError as exc:
            raise BadInput(f"--{exc.field}: {exc}") from None
    token, details = created.token.get_secret_value(), created.details
    if json:
        print_json(
            {"id": details.id, "label": details.label, "token": token, "scopes": details.scopes}
        )
        return
    print(token)
    stderr.print(
        f"created token {details.id} ({details.label}; scopes {', '.join(details.scopes)}) for "
        f"team {rt.settings.team}. It is printed above once and stored only as a hash: keep it "
        "somewhere safe now.",
        markup=False,
    )


@app.command("list")
def list_cmd(json: JsonFlag = False) -> None:
    """List tokens: label, scopes, created, last used, revoked (never the token)."""
    with runtime() as rt, rt.transaction() as session:
        tokens = TokenRepository(session, _team(rt, session)).list()
    if json:
        print_json(tokens)
        return
    print_table(
        f"tokens of team {rt.settings.team}",
        ["id", "label", "scopes", "created", "last used", "revoked"],
        [
            (t.id, t.label, ", ".join(t.scopes), t.created_at, t.last_used_at, t.revoked_at)
            for t in tokens
        ],
    )


@app.command("revoke")
def revoke_cmd(
    token_id: Annotated[
        int,
        typer.Argument(metavar="ID", help="Token id (see `tokens list`).", min=1, max=INT32_MAX),
    ],
    json: JsonFlag = False,
) -> None:
    """Revoke a token for good: it no longer authenticates."""
    with runtime() as rt, rt.transaction() as session:
        token = TokenRepository(session, _team(rt, session)).revoke(token_id)
    if json:
        print_json(token)
    else:
        say(_revoked(token))


def _scopes(values: list[str]) -> list[Scope]:
    try:
        return parse_scopes(values)
    except InvalidInputError as exc:
        raise BadInput(f"--scope: {exc}") from None


def _revoked(token: ApiToken) -> str:
    assert token.revoked_at is not None
    since = f"{token.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
    return f"token {token.id} ({token.label}) is revoked since {since}"


def _team(rt: Runtime, session: Session) -> Team:
    """The CLI's team; one not created yet owns no tokens (id -1 matches nothing)."""
    team = rt.team(session)
    return team if team is not None else Team(id=-1, name=rt.settings.team)

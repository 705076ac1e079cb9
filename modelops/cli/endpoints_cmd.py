"""`modelops endpoints …`: the names consumers call, their weighted routes, undeploy."""

from __future__ import annotations

import getpass
import re
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from modelops.cli.arguments import INT32_MAX, single_line
from modelops.cli.context import runtime
from modelops.cli.errors import BadInput
from modelops.cli.output import print_json, print_table, say
from modelops.runtime import Runtime
from registry.domain import Team
from registry.endpoints import (
    Endpoint,
    EndpointChange,
    EndpointRepository,
    Environment,
    NewEndpoint,
    RouteChange,
    RouteLedgerEntry,
    ShadowedVersion,
    WeightedVersion,
    create_endpoint,
    set_routes,
    undeploy_endpoint,
)
from registry.routing import RouteRole

app = typer.Typer(
    help="Endpoints of MODELOPS_TEAM: the names consumers call, and their weighted routes.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
EndpointName = Annotated[str, typer.Argument(help="Endpoint name, e.g. support-intent-prod.")]
Actor = Annotated[
    str,
    typer.Option(
        "--actor", help="Who is doing this (recorded in the ledger).", callback=single_line(128)
    ),
]
Reason = Annotated[
    str, typer.Option("--reason", help="Why (recorded in the ledger).", callback=single_line(4000))
]
ExpectRevision = Annotated[
    int | None,
    typer.Option(
        "--expect-revision",
        min=1,
        max=INT32_MAX,
        help="Refuse unless the endpoint is at this revision.",
    ),
]
SERVED_ROLES = [role.value for role in RouteRole if role is not RouteRole.SHADOW]
_WEIGHT = re.compile(r"v?(\d+)=(\d+)(?::([a-z]+))?")
_SHADOW = re.compile(r"v?(\d+)=(\d+)")


@app.command("create")
def create_cmd(
    name: EndpointName,
    model: Annotated[str, typer.Option("--model", help="The model it serves.")],
    environment: Annotated[
        Environment, typer.Option("--environment", case_sensitive=False, help="Where it serves.")
    ] = Environment.PRODUCTION,
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            min=1,
            max=INT32_MAX,
            help="Version to serve; default: the production version on a production "
            "endpoint, else the newest version neither rejected nor archived.",
        ),
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Who creates it.")] = None,
    json: JsonFlag = False,
) -> None:
    """Create a serving endpoint with one stable route, 100% on one version."""
    new = NewEndpoint(
        name=name,
        model=model,
        environment=environment,
        version=version,
        actor=actor or getpass.getuser(),
    )
    with runtime() as rt, rt.transaction() as session:
        endpoint = create_endpoint(session, rt.require_team(session), new)
    if json:
        print_json(endpoint_json(endpoint))
    else:
        say(f"created {endpoint.environment} endpoint {endpoint.name}: {_routes_text(endpoint)}")


@app.command("list")
def list_cmd(json: JsonFlag = False) -> None:
    """List the team's endpoints with their routes."""
    with runtime() as rt, rt.transaction() as session:
        endpoints = EndpointRepository(session, _team(rt, session)).list()
    if json:
        print_json([endpoint_json(endpoint) for endpoint in endpoints])
        return
    print_table(
        f"endpoints of team {rt.settings.team}",
        ["name", "model", "environment", "status", "revision", "routes", "owned by"],
        [
            (e.name, e.model, e.environment, e.status, e.revision, _routes_text(e), _owner(e))
            for e in endpoints
        ],
    )


@app.command("show")
def show_cmd(name: EndpointName, json: JsonFlag = False) -> None:
    """Show one endpoint: status, revision, owner and routes."""
    with runtime() as rt, rt.transaction() as session:
        endpoint = EndpointRepository(session, _team(rt, session)).get(name)
    if json:
        print_json(endpoint_json(endpoint))
        return
    _print_endpoint(endpoint)


@app.command("history")
def history_cmd(name: EndpointName, json: JsonFlag = False) -> None:
    """Show the route ledger of an endpoint: every change, who made it and why."""
    with runtime() as rt, rt.transaction() as session:
        entries = EndpointRepository(session, _team(rt, session)).history(name)
    if json:
        print_json(entries)
        return
    print_table(
        f"route ledger of {name}",
        ["#", "at", "revision", "action", "actor", "reason", "routes after", "owner"],
        [
            (e.id, e.at, e.revision, e.action, e.actor, e.reason, _ledger_routes(e), _owner(e))
            for e in entries
        ],
    )


@app.command("route")
def route_cmd(
    name: EndpointName,
    weights: Annotated[
        list[str],
        typer.Argument(
            metavar="V=W[:ROLE]...",
            help="Serve version V to W percent of routing keys (weights sum to 100); ROLE is "
            f"one of {', '.join(SERVED_ROLES)} (default: the role it has, else stable or canary).",
        ),
    ],
    actor: Actor,
    reason: Reason,
    shadow: Annotated[
        list[str] | None,
        typer.Option("--shadow", metavar="V=P", help="Mirror P percent of requests to version V."),
    ] = None,
    expect_revision: ExpectRevision = None,
    json: JsonFlag = False,
) -> None:
    """Set an endpoint's routes in one change (refused while a rollout or A/B test owns it)."""
    change = RouteChange(
        endpoint=name,
        routes=[parse_weight(item) for item in weights],
        shadows=[parse_shadow(item) for item in shadow or []],
        actor=actor,
        reason=reason,
        expect_revision=expect_revision,
    )
    with runtime() as rt, rt.transaction() as session:
        endpoint = set_routes(session, rt.require_team(session), change)
    if json:
        print_json(endpoint_json(endpoint))
    else:
        say(f"{endpoint.name} at revision {endpoint.revision}: {_routes_text(endpoint)}")


@app.command("undeploy")
def undeploy_cmd(
    name: EndpointName,
    actor: Actor,
    reason: Reason,
    expect_revision: ExpectRevision = None,
    json: JsonFlag = False,
) -> None:
    """Take the endpoint out of service for new requests; its routes stay on record."""
    change = EndpointChange(
        endpoint=name, actor=actor, reason=reason, expect_revision=expect_revision
    )
    with runtime() as rt, rt.transaction() as session:
        endpoint = undeploy_endpoint(session, rt.require_team(session), change)
    if json:
        print_json(endpoint_json(endpoint))
    else:
        say(f"{endpoint.name} undeployed at revision {endpoint.revision}")


def parse_weight(item: str) -> WeightedVersion:
    found = _WEIGHT.fullmatch(item.strip().lower())
    role = found.group(3) if found else None
    if found is None or not 1 <= int(found.group(2)) <= 100 or (role and role not in SERVED_ROLES):
        raise BadInput(
            f"V=W[:ROLE] {item!r}: expected a version, '=', a whole percent 1-100 and "
            f"optionally ':' and a role ({', '.join(SERVED_ROLES)}), e.g. 3=90 4=10:canary"
        )
    return WeightedVersion(
        version=int(found.group(1)),
        weight=int(found.group(2)),
        role=RouteRole(role) if role else None,
    )


def parse_shadow(item: str) -> ShadowedVersion:
    found = _SHADOW.fullmatch(item.strip().lower())
    if found is None or not 1 <= int(found.group(2)) <= 100:
        raise BadInput(
            f"--shadow {item!r}: expected a version, '=' and a whole percent 1-100 of "
            "requests to mirror, e.g. --shadow 4=10"
        )
    return ShadowedVersion(version=int(found.group(1)), percent=int(found.group(2)))


def endpoint_json(endpoint: Endpoint) -> dict[str, object]:
    return {
        "name": endpoint.name,
        "model": endpoint.model,
        "environment": endpoint.environment.value,
        "revision": endpoint.revision,
        "status": endpoint.status.value,
        "routes": [route.model_dump(mode="json") for route in endpoint.routes],
        "owner": endpoint.owner.model_dump(mode="json") if endpoint.owner else None,
        "created_by": endpoint.created_by,
        "deployed_at": endpoint.deployed_at.isoformat(),
        "undeployed_at": endpoint.undeployed_at.isoformat() if endpoint.undeployed_at else None,
    }


def _print_endpoint(endpoint: Endpoint) -> None:
    say(
        f"{endpoint.name} ({endpoint.environment}, {endpoint.status}) serves "
        f"model {endpoint.model}; revision {endpoint.revision}"
    )
    if endpoint.owner is not None:
        say(f"owned by {endpoint.owner}: routes change only through it")
    print_table(
        "routes",
        ["version", "role", "weight"],
        [(r.version, r.role, f"{r.weight}%") for r in endpoint.routes],
    )


def _routes_text(endpoint: Endpoint) -> str:
    return ", ".join(f"v{r.version} {r.weight}% {r.role}" for r in endpoint.routes)


def _ledger_routes(entry: RouteLedgerEntry) -> str:
    return ", ".join(f"v{r.version} {r.weight}% {r.role}" for r in entry.after)


def _owner(item: Endpoint | RouteLedgerEntry) -> str | None:
    return str(item.owner) if item.owner else None


def _team(rt: Runtime, session: Session) -> Team:
    """The CLI's team; one not created yet owns no endpoints (id -1 matches nothing)."""
    team = rt.team(session)
    return team if team is not None else Team(id=-1, name=rt.settings.team)

"""`modelops models …`: look at models and versions, move stages, roll back."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Annotated

import typer

from modelops.cli.arguments import INT32_MAX, single_line
from modelops.cli.context import runtime
from modelops.cli.errors import BadInput
from modelops.cli.output import print_json, print_table, say
from registry.domain import LedgerEntry, Lineage, ModelVersion
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.stages import Stage, parse_stage

app = typer.Typer(
    help="Models and their versions: list, inspect, register, move stages, roll back."
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ModelName = Annotated[
    str, typer.Argument(help="Model name, as in the catalog.", callback=single_line(128))
]
Actor = Annotated[
    str,
    typer.Option(
        "--actor", help="Who is doing this (recorded in the ledger).", callback=single_line(128)
    ),
]
Reason = Annotated[
    str, typer.Option("--reason", help="Why (recorded in the ledger).", callback=single_line(4000))
]
VersionNumber = Annotated[int, typer.Argument(help="Version number.", min=1, max=INT32_MAX)]
STAGES = ", ".join(stage.value for stage in Stage)


@app.command("list")
def list_cmd(
    json: JsonFlag = False,
    all_: Annotated[bool, typer.Option("--all", help="Include retired models.")] = False,
) -> None:
    """List the team's models with their production version."""
    with runtime() as rt, rt.transaction() as session:
        models = ModelRepository(session, rt.team(session))
        rows = [(m, models.production(m.name)) for m in models.all(include_retired=all_)]
    if json:
        print_json(
            [{**m.model_dump(mode="json"), "production": p.version if p else None} for m, p in rows]
        )
        return
    print_table(
        f"models of team {rt.settings.team}",
        ["name", "provider", "category", "base model", "production", "retired"],
        [
            (m.name, m.provider, m.category, m.base_model, p.version if p else None, m.retired)
            for m, p in rows
        ],
    )


@app.command("show")
def show_cmd(name: ModelName, json: JsonFlag = False) -> None:
    """Show one model: definition, policy and versions."""
    with runtime() as rt, rt.transaction() as session:
        models = ModelRepository(session, rt.team(session))
        model, versions = models.get(name), models.versions(name)
    if json:
        print_json({**model.model_dump(mode="json"), "versions": versions})
        return
    say(f"{model.name} ({model.category}) on {model.provider}: {model.description}")
    say(f"base model {model.base_model}; defined in {model.source_file}")
    for stage, policy in model.policy.items():
        approvers = ", ".join(policy.approvers) or "none"
        say(f"  to {stage}: approvers {approvers}; gates {policy.gates or 'none'}")
    _print_versions(name, versions)


@app.command("versions")
def versions_cmd(name: ModelName, json: JsonFlag = False) -> None:
    """List a model's versions with stage and lineage."""
    with runtime() as rt, rt.transaction() as session:
        versions = ModelRepository(session, rt.team(session)).versions(name)
    if json:
        print_json(versions)
        return
    _print_versions(name, versions)


def _print_versions(name: str, versions: list[ModelVersion]) -> None:
    print_table(
        f"versions of {name}",
        ["version", "stage", "provider model id", "parent", "dataset sha256", "created"],
        [
            (
                v.version,
                v.stage,
                v.provider_model_id,
                v.lineage.parent_version,
                (v.lineage.dataset_sha256 or "")[:12] or None,
                v.created_at,
            )
            for v in versions
        ],
    )


@app.command("history")
def history_cmd(
    name: ModelName,
    at: Annotated[
        str | None,
        typer.Option("--at", help="ISO 8601 instant (UTC if no zone): who was in production then."),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Show the stage ledger of a model, or what was in production at an instant."""
    instant = _parse_instant(at) if at is not None else None
    with runtime() as rt, rt.transaction() as session:
        model_row = ModelRepository(session, rt.team(session)).row(name)
        ledger = LedgerRepository(session, rt.require_team(session))
        entries = ledger.history(model_row, until=instant)
        production = ledger.production_at(model_row, instant) if instant else None
    if instant is not None:
        if json:
            print_json({"model": name, "at": instant.isoformat(), "production": production})
        else:
            said = f"v{production}" if production is not None else "no version"
            say(f"{name} at {instant.isoformat()}: {said} in production")
        return
    if json:
        print_json(entries)
        return
    print_ledger(name, entries)


def print_ledger(name: str, entries: list[LedgerEntry]) -> None:
    print_table(
        f"stage ledger of {name}",
        ["#", "at", "version", "action", "from", "to", "actor", "approved by", "reason"],
        [
            (
                e.id, e.at, e.version, e.action, e.from_stage, e.to_stage, e.actor,
                approved_by(e), e.reason,
            )
            for e in entries
        ],
    )  # fmt: skip


def approved_by(entry: LedgerEntry) -> str | None:
    """The proven reviewers who approved the move, as the promote run kept them."""
    names = entry.evidence.get("approved_by")
    if not isinstance(names, list) or not names:
        return None
    return ", ".join(str(name) for name in names)


@app.command("add-version")
def add_version_cmd(
    name: ModelName,
    provider_model_id: Annotated[
        str,
        typer.Option(
            "--provider-model-id",
            help="The provider's id for this model.",
            callback=single_line(256),
        ),
    ],
    parent: Annotated[
        int | None,
        typer.Option("--parent", help="Parent version number.", min=1, max=INT32_MAX),
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who registers it.", callback=single_line(128))
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Register a new version (in development)."""
    from registry.lifecycle import NewVersion, register_version  # writers only: it is large

    new = NewVersion(
        model=name,
        provider_model_id=provider_model_id,
        actor=actor or getpass.getuser(),
        lineage=Lineage(parent_version=parent),
    )
    with runtime() as rt, rt.transaction() as session:
        version = register_version(session, rt.require_team(session), new)
    if json:
        print_json(version)
    else:
        say(f"registered {name} v{version.version} ({provider_model_id}) in {version.stage}")


@app.command("stage")
def stage_cmd(
    name: ModelName,
    version: VersionNumber,
    stage: Annotated[
        Stage,
        typer.Argument(
            help=f"Target stage: {STAGES}.", parser=parse_stage, metavar="STAGE", show_default=False
        ),
    ],
    actor: Actor,
    reason: Reason,
    expect: Annotated[
        Stage | None,
        typer.Option(
            "--expect",
            help="Refuse unless the version is in this stage now.",
            parser=parse_stage,
            metavar="STAGE",
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Move a version to another stage (compare-and-set on its current stage)."""
    from registry.lifecycle import TransitionRequest, transition_stage

    request = TransitionRequest(
        model=name, version=version, target=stage, actor=actor, reason=reason, expect=expect
    )
    with runtime() as rt, rt.transaction() as session:
        result = transition_stage(session, rt.require_team(session), request)
    if json:
        print_json(result)
        return
    replaced = f"; v{result.replaced} archived" if result.replaced else ""
    say(f"{name} v{version}: {result.from_stage} -> {stage}{replaced}")


@app.command("rollback")
def rollback_cmd(
    name: ModelName,
    actor: Actor,
    reason: Reason,
    expect: Annotated[
        int | None,
        typer.Option(
            "--expect",
            help="Refuse unless this version is in production now "
            "(default: the one in production when the command starts).",
            min=1,
            max=INT32_MAX,
            metavar="VERSION",
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Take the production version down and restore the last good one (compare-and-set)."""
    from registry.lifecycle import RollbackRequest, rollback

    with runtime() as rt:
        if expect is None:
            with rt.transaction() as session:
                seen = ModelRepository(session, rt.require_team(session)).production(name)
            expect = seen.version if seen is not None else None
        request = RollbackRequest(model=name, actor=actor, reason=reason, expect=expect)
        with rt.transaction() as session:
            result = rollback(session, rt.require_team(session), request)
    if json:
        print_json(result)
        return
    say(f"{name}: v{result.replaced} rolled back; v{result.version.version} is in production")


def _parse_instant(raw: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise BadInput(
            f"--at: {raw!r} is not an ISO 8601 instant; e.g. 2026-11-22T14:02:00Z"
        ) from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise BadInput(
            f"--at: {raw!r} is outside the years 1 to 9999 once converted to UTC"
        ) from None

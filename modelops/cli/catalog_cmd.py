"""`modelops catalog …`: validate the catalog files, sync them to the database, list models."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from modelops.cli.context import load_settings, runtime
from modelops.cli.errors import BAD_INPUT, BadInput
from modelops.cli.output import print_json, print_table, say
from registry.catalog import Catalog, CatalogDirectoryError, CatalogError, load_catalog
from registry.catalog_sync import SyncAction, SyncChange, SyncPlan, apply_sync, plan_sync
from registry.domain import Model, ModelVersion
from registry.model_repository import ModelRepository

app = typer.Typer(
    help="The model catalog ($MODELOPS_CATALOG_DIR): validate it, sync it to the database, "
    "list the models it defined."
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@app.command("validate")
def validate_cmd(json: JsonFlag = False) -> None:
    """Check every catalog file; needs no database."""
    directory = load_settings().catalog_dir
    try:
        catalog = load_catalog(directory)
    except CatalogError as exc:
        if json:
            print_json({"ok": False, "problems": [asdict(p) for p in exc.problems]})
            raise typer.Exit(BAD_INPUT) from None
        raise _bad_catalog(directory, exc, written=False) from None
    if json:
        print_json({"ok": True, "providers": len(catalog.providers), "models": len(catalog.models)})
    else:
        say(f"catalog OK: {_size(catalog)} ({directory})")


@app.command("sync")
def sync_cmd(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Write the catalog to the database: create, update, retire, restore (one transaction)."""
    directory = load_settings().catalog_dir
    try:
        catalog = load_catalog(directory)
    except CatalogError as exc:
        raise _bad_catalog(directory, exc, written=True) from None
    with runtime() as rt, rt.transaction() as session:
        plan = plan_sync(session, catalog)
        if not dry_run:
            apply_sync(session, plan)
    if json:
        print_json(list(plan.changes))
    else:
        _report(plan, dry_run=dry_run)


@app.command("list")
def list_cmd(
    json: JsonFlag = False,
    include_retired: Annotated[
        bool, typer.Option("--all", help="Include models retired from the catalog.")
    ] = False,
) -> None:
    """The models of $MODELOPS_TEAM in the database, with their production version."""
    with runtime() as rt, rt.transaction() as session:
        team = rt.team(session)
        models = ModelRepository(session, team)
        listed = [
            (model, models.production(model.name))
            for model in models.all(include_retired=include_retired)
        ]
    if json:
        print_json([_model_json(model, production) for model, production in listed])
        return
    print_table(
        f"models of team {rt.settings.team}",
        ["name", "provider", "category", "base model", "production", "retired"],
        [
            [
                m.name,
                m.provider,
                m.category,
                m.base_model,
                p.version if p else None,
                "yes" if m.retired else "no",
            ]
            for m, p in listed
        ],
    )
    if team is None:
        say("the team has no models yet: run `modelops catalog sync`")


def _model_json(model: Model, production: ModelVersion | None) -> dict[str, object]:
    return {
        "name": model.name,
        "team": model.team,
        "provider": model.provider,
        "category": model.category,
        "base_model": model.base_model,
        "production": None if production is None else production.version,
        "retired": model.retired,
        "source_file": model.source_file,
    }


def _bad_catalog(directory: Path, error: CatalogError, *, written: bool) -> BadInput:
    if isinstance(error, CatalogDirectoryError):
        return BadInput(error.message)
    count = len(error.problems)
    outcome = "; nothing was written" if written else ""
    header = f"catalog {directory} has {count} problem{'' if count == 1 else 's'}{outcome}:"
    return BadInput("\n".join([header, *(str(problem) for problem in error.problems)]))


def _report(plan: SyncPlan, *, dry_run: bool) -> None:
    if not plan.pending:
        say(f"no changes: the database matches the catalog ({_size(plan.catalog)})")
        return
    for change in plan.pending:
        say(_describe(change, dry_run=dry_run))
    counts = plan.counts()
    if dry_run:
        summary = ", ".join(f"{counts[a]} {a.value}" for a in SyncAction if counts[a])
        say(f"dry run, nothing written; the sync would do: {summary}")
    else:
        summary = ", ".join(f"{counts[a]} {_past(a)}" for a in SyncAction if counts[a])
        say(f"catalog synced: {summary}")


def _describe(change: SyncChange, *, dry_run: bool) -> str:
    subject = change.name if change.team is None else f"{change.team}/{change.name}"
    verb = f"would {change.action.value}" if dry_run else change.action.value
    fields = f" ({', '.join(change.changes)})" if change.changes else ""
    return f"{change.kind} {subject}: {verb}{fields}"


def _past(action: SyncAction) -> str:
    return {
        SyncAction.CREATE: "created",
        SyncAction.UPDATE: "updated",
        SyncAction.RETIRE: "retired",
        SyncAction.RESTORE: "restored",
        SyncAction.UNCHANGED: "unchanged",
    }[action]


def _size(catalog: Catalog) -> str:
    providers, models = len(catalog.providers), len(catalog.models)
    return (
        f"{providers} provider{'' if providers == 1 else 's'}, "
        f"{models} model{'' if models == 1 else 's'}"
    )

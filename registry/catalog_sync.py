"""Catalog sync: plan the difference between the catalog and its DB copy, then write it.

Nothing is deleted: what left the catalog is retired, and restored when it comes back;
a model that still serves traffic is not retired at all (the sync is refused).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, TypeVar

from pydantic import Field, JsonValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.catalog import Catalog, CatalogEntry, ModelSpec, ProviderSpec
from registry.domain import Frozen
from registry.endpoints.domain import EndpointStatus
from registry.endpoints.tables import EndpointRow
from registry.errors import ConflictError, InvalidInputError, translate_database_errors
from registry.orm import utcnow
from registry.stages import Stage
from registry.tables import ModelRow, ModelVersionRow, ProviderRow, TeamRow
from registry.teams import TeamRepository
from registry.usage.prices import NewPrice, plan_prices, write_prices

Values = dict[str, JsonValue]
ModelKey = tuple[str, str]  # (team, model name)
KeyT = TypeVar("KeyT")
RowT = TypeVar("RowT")

PROVIDER_FIELDS = ("kind", "base_url", "options", "source_file")
MODEL_FIELDS = (
    "provider",
    "base_model",
    "category",
    "description",
    "cost",
    "policy",
    "rollout",
    "alerts",
    "parameters",
    "prompt_template",
    "source_file",
)


class SyncAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    RETIRE = "retire"
    RESTORE = "restore"
    UNCHANGED = "unchanged"


class SyncChange(Frozen):
    """What sync does to one provider or model; `changes` names the fields that differ."""

    kind: Literal["provider", "model", "price"]
    name: str
    team: str | None
    action: SyncAction
    changes: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class SyncPlan:
    catalog: Catalog
    changes: tuple[SyncChange, ...]
    prices: tuple[NewPrice, ...] = ()

    @property
    def pending(self) -> list[SyncChange]:
        """The changes that write something (everything but `unchanged`)."""
        return [change for change in self.changes if change.action is not SyncAction.UNCHANGED]

    def counts(self) -> Counter[SyncAction]:
        return Counter(change.action for change in self.changes)


def plan_sync(session: Session, catalog: Catalog) -> SyncPlan:
    """Compare the catalog with the database; reads only. Prices are append-only: a
    catalog that would change or remove a synced price is refused (`InvalidInputError`)."""
    changes = _plan_providers(session, catalog) + _plan_models(session, catalog)
    models = [(e.spec.team, e.spec.name, e.spec.prices) for e in catalog.models]
    prices = plan_prices(session, models, utcnow())
    changes += [
        SyncChange(kind="price", name=p.label, team=p.team, action=SyncAction.CREATE)
        for p in prices
    ]
    return SyncPlan(catalog=catalog, changes=tuple(changes), prices=tuple(prices))


def apply_sync(session: Session, plan: SyncPlan) -> None:
    """Write the plan in the caller's transaction, which commits or rolls back all of it."""
    now = utcnow()
    with translate_database_errors("syncing the catalog"):
        provider_ids = _apply_providers(session, plan, now)
        _apply_models(session, plan, provider_ids, now)
        session.flush()
        write_prices(session, plan.prices)


# -- planning -------------------------------------------------------------------


def _plan_providers(session: Session, catalog: Catalog) -> list[SyncChange]:
    rows = _provider_rows(session)
    changes = []
    for entry in sorted(catalog.providers, key=lambda e: e.spec.name):
        name, row = entry.spec.name, rows.get(entry.spec.name)
        current = None if row is None else _provider_row_values(row)
        retired = row is not None and row.retired_at is not None
        action, fields = _compare(current, _provider_values(entry), retired)
        changes.append(
            SyncChange(kind="provider", name=name, team=None, action=action, changes=fields)
        )
    # Catalog validation guarantees every catalog model names a catalog provider,
    # so after this sync no active model uses a provider that left the catalog.
    listed = {entry.spec.name for entry in catalog.providers}
    changes += [
        SyncChange(kind="provider", name=name, team=None, action=SyncAction.RETIRE)
        for name, row in sorted(rows.items())
        if name not in listed and row.retired_at is None
    ]
    return changes


def _plan_models(session: Session, catalog: Catalog) -> list[SyncChange]:
    rows = _model_rows(session)
    changes = []
    for entry in sorted(catalog.models, key=lambda e: (e.spec.team, e.spec.name)):
        team, name = entry.spec.team, entry.spec.name
        found = rows.get((team, name))
        current = None if found is None else _model_row_values(*found)
        retired = found is not None and found[0].retired_at is not None
        action, fields = _compare(current, _model_values(entry), retired)
        changes.append(
            SyncChange(kind="model", name=name, team=team, action=action, changes=fields)
        )
    listed = {(entry.spec.team, entry.spec.name) for entry in catalog.models}
    retiring = {
        key: row
        for key, (row, _) in sorted(rows.items())
        if key not in listed and row.retired_at is None
    }
    _refuse_retiring_live_models(session, retiring)
    changes += [
        SyncChange(kind="model", name=name, team=team, action=SyncAction.RETIRE)
        for team, name in retiring
    ]
    return changes


def _refuse_retiring_live_models(session: Session, retiring: dict[ModelKey, ModelRow]) -> None:
    """A model that left the catalog but still has a production version or a serving
    endpoint is not retired silently: the whole sync is refused, naming what holds it."""
    ids = {row.id: key for key, row in retiring.items()}
    holds: dict[ModelKey, list[str]] = {}
    production = select(ModelVersionRow.model_id, ModelVersionRow.version).where(
        ModelVersionRow.model_id.in_(ids), ModelVersionRow.stage == Stage.PRODUCTION.value
    )
    for model_id, version in session.execute(production):
        holds.setdefault(ids[model_id], []).append(f"v{version} is in production")
    serving = (
        select(EndpointRow.model_id, EndpointRow.name)
        .where(EndpointRow.model_id.in_(ids), EndpointRow.status == EndpointStatus.SERVING.value)
        .order_by(EndpointRow.name)
    )
    for model_id, endpoint in session.execute(serving):
        holds.setdefault(ids[model_id], []).append(f"endpoint {endpoint} serves it")
    if not holds:
        return
    lines = [
        f"  {team}/{name} ({retiring[(team, name)].source_file} is gone): {'; '.join(why)}"
        for (team, name), why in sorted(holds.items())
    ]
    raise InvalidInputError(
        "catalog sync refuses to retire models that still serve traffic; nothing was written:\n"
        + "\n".join(lines)
        + "\nrestore their catalog files, or first undeploy their endpoints (`modelops "
        "endpoints undeploy NAME …`) and archive their production versions (`modelops models "
        "stage MODEL VERSION archived …`)",
        field="catalog",
    )


def _compare(
    current: Values | None, desired: Values, retired: bool
) -> tuple[SyncAction, list[str]]:
    if current is None:
        return SyncAction.CREATE, []
    differing = [field for field, value in desired.items() if current.get(field) != value]
    if retired:
        return SyncAction.RESTORE, differing
    return (SyncAction.UPDATE if differing else SyncAction.UNCHANGED), differing


def _provider_values(entry: CatalogEntry[ProviderSpec]) -> Values:
    dumped = entry.spec.model_dump(mode="json", exclude_none=True)
    values: Values = {field: dumped.get(field) for field in PROVIDER_FIELDS}
    values["source_file"] = entry.source_file
    return values


def _model_values(entry: CatalogEntry[ModelSpec]) -> Values:
    dumped = entry.spec.model_dump(mode="json", exclude_none=True)
    values: Values = {field: dumped.get(field) for field in MODEL_FIELDS}
    values["source_file"] = entry.source_file
    return values


def _provider_row_values(row: ProviderRow) -> Values:
    return {field: getattr(row, field) for field in PROVIDER_FIELDS}


def _model_row_values(row: ModelRow, provider: str) -> Values:
    values: Values = {field: getattr(row, field) for field in MODEL_FIELDS if field != "provider"}
    values["provider"] = provider
    return values


def _provider_rows(session: Session) -> dict[str, ProviderRow]:
    return {row.name: row for row in session.scalars(select(ProviderRow))}


def _model_rows(session: Session) -> dict[ModelKey, tuple[ModelRow, str]]:
    query = (
        select(ModelRow, TeamRow.name, ProviderRow.name)
        .join(TeamRow, TeamRow.id == ModelRow.team_id)
        .join(ProviderRow, ProviderRow.id == ModelRow.provider_id)
    )
    return {(team, row.name): (row, provider) for row, team, provider in session.execute(query)}


# -- applying -------------------------------------------------------------------


def _apply_providers(session: Session, plan: SyncPlan, now: datetime) -> dict[str, int]:
    rows = _provider_rows(session)
    entries = {entry.spec.name: entry for entry in plan.catalog.providers}
    for change in plan.pending:
        if change.kind != "provider":
            continue
        if change.action is SyncAction.CREATE:
            rows[change.name] = ProviderRow(
                name=change.name, **_provider_values(entries[change.name])
            )
            session.add(rows[change.name])
            continue
        row = _existing(rows, change.name, change)
        if change.action is SyncAction.RETIRE:
            row.retired_at = now
        else:
            _write(row, _provider_values(entries[change.name]))
            row.retired_at = None
        row.updated_at = now
    session.flush()
    return {name: row.id for name, row in rows.items()}


def _apply_models(
    session: Session, plan: SyncPlan, provider_ids: dict[str, int], now: datetime
) -> None:
    rows = {key: row for key, (row, _) in _model_rows(session).items()}
    entries = {(e.spec.team, e.spec.name): e for e in plan.catalog.models}
    teams = TeamRepository(session)
    for change in plan.pending:
        if change.kind != "model" or change.team is None:
            continue
        key = (change.team, change.name)
        if change.action is SyncAction.CREATE:
            row = ModelRow(team_id=teams.ensure(change.team).id, name=change.name)
            session.add(row)
        else:
            row = _existing(rows, key, change)
        if change.action is SyncAction.RETIRE:
            row.retired_at = now
        else:
            values = _model_values(entries[key])
            row.provider_id = provider_ids[str(values.pop("provider"))]
            _write(row, values)
            row.retired_at = None
        row.updated_at = now


def _write(row: ProviderRow | ModelRow, values: Values) -> None:
    for field, value in values.items():
        setattr(row, field, value)


def _existing(rows: dict[KeyT, RowT], key: KeyT, change: SyncChange) -> RowT:
    row = rows.get(key)
    if row is None:
        raise ConflictError(
            f"{change.kind} {change.name!r} left the database while syncing; run the sync again"
        )
    return row

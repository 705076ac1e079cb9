"""Endpoints in the process: route tables by (team, name), and what each endpoint's model is
(provider, category, prices), read from the database in full at start and on the periodic
re-read, and per endpoint when a NOTIFY names it. Requests only read these dictionaries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import dataclass

from pydantic import JsonValue
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from registry.endpoints import load_route_tables
from registry.endpoints.tables import EndpointRow
from registry.routing import RouteTable
from registry.tables import ModelRow, ModelVersionRow, ProviderRow
from registry.usage.prices import load_prices
from registry.usage.pricing import Price

MISSING_SECONDS = 2.0  # a name not found is not looked up again for this long


@dataclass(frozen=True, slots=True)
class ServedModel:
    """The catalog's word on an endpoint's model: who runs it, what it does, what it costs."""

    model_id: int
    team_id: int
    name: str
    provider_id: int
    provider: str
    provider_kind: str
    base_url: str | None
    provider_options: dict[str, JsonValue]
    # What the provider's adapter is built from: a new one when the catalog changes it.
    provider_signature: str
    category: str
    input_per_1k: float
    output_per_1k: float
    # For consumers that execute the call themselves (resolve): the catalog's defaults.
    parameters: dict[str, JsonValue]
    prompt_template: str | None
    prices: tuple[Price, ...] = ()  # the model's prices, oldest first (registry.usage)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one read of the database returned; applied on the event loop in one step."""

    tables: list[RouteTable]
    models: list[ServedModel]
    full: bool  # True: everything (replace); False: only the endpoints named (merge)
    endpoint_ids: frozenset[int] = frozenset()
    missing: tuple[tuple[int, str], ...] = ()  # (team id, name) looked up and not found


class RouteCache:
    """Read by requests on the event loop; filled from snapshots read in worker threads."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._by_name: dict[tuple[int, str], RouteTable] = {}
        self._models: dict[int, ServedModel] = {}
        self._model_of: dict[str, int] = {}  # "team_id/model name" → model id
        self._missing: dict[tuple[int, str], float] = {}  # names just looked up in vain
        self.loaded = False

    # -- reads on the request path ---------------------------------------------------------

    def table(self, team_id: int, name: str) -> RouteTable | None:
        return self._by_name.get((team_id, name))

    def model(self, table: RouteTable) -> ServedModel | None:
        model_id = self._model_of.get(f"{table.team_id}/{table.model}")
        return None if model_id is None else self._models.get(model_id)

    def team_tables(self, team_id: int) -> list[RouteTable]:
        return sorted(
            (t for (team, _), t in self._by_name.items() if team == team_id), key=lambda t: t.name
        )

    def may_exist(self, team_id: int, name: str) -> bool:
        """False for a name looked up in vain moments ago (a client retrying a typo)."""
        seen = self._missing.get((team_id, name))
        return seen is None or time.monotonic() - seen > MISSING_SECONDS

    # -- reads of the database (worker threads) --------------------------------------------

    def read_named(self, team_id: int, name: str) -> Snapshot:
        """One endpoint not in the cache (created a moment ago, or mistyped)."""
        with self._sessions.begin() as session:
            found = session.scalar(
                select(EndpointRow.id).where(
                    EndpointRow.team_id == team_id, EndpointRow.name == name
                )
            )
        if found is None:
            return Snapshot([], [], full=False, missing=((team_id, name),))
        return self.read({found})

    def read(self, endpoint_ids: Collection[int] | None = None) -> Snapshot:
        with self._sessions.begin() as session:
            tables = load_route_tables(session, endpoint_ids)
            names = {(t.team_id, t.model) for t in tables}
            models = _served_models(session, names if endpoint_ids is not None else None)
        if endpoint_ids is None:
            return Snapshot(tables, models, full=True)
        return Snapshot(tables, models, full=False, endpoint_ids=frozenset(endpoint_ids))

    def version_id(self, model_id: int, version: int) -> int | None:
        with self._sessions.begin() as session:
            return session.scalar(
                select(ModelVersionRow.id).where(
                    ModelVersionRow.model_id == model_id, ModelVersionRow.version == version
                )
            )

    # -- applying a snapshot (event loop) ----------------------------------------------------

    def apply(self, snapshot: Snapshot) -> None:
        now = time.monotonic()
        self._missing = {k: t for k, t in self._missing.items() if now - t <= MISSING_SECONDS}
        for key in snapshot.missing:
            self._missing[key] = now
        for table in snapshot.tables:
            self._missing.pop((table.team_id, table.name), None)
        if snapshot.full:
            self._by_name = {(t.team_id, t.name): t for t in snapshot.tables}
            self._models = {}
            self._model_of = {}
            self.loaded = True
        else:
            gone = [k for k, t in self._by_name.items() if t.endpoint_id in snapshot.endpoint_ids]
            for key in gone:
                del self._by_name[key]
            for table in snapshot.tables:
                self._by_name[(table.team_id, table.name)] = table
        for model in snapshot.models:
            self._models[model.model_id] = model
            self._model_of[f"{model.team_id}/{model.name}"] = model.model_id

    def revision(self, endpoint_id: int) -> int | None:
        for table in self._by_name.values():
            if table.endpoint_id == endpoint_id:
                return table.revision
        return None

    def __len__(self) -> int:
        return len(self._by_name)


def _served_models(session: Session, names: set[tuple[int, str]] | None) -> list[ServedModel]:
    query = select(ModelRow, ProviderRow).join(ProviderRow, ProviderRow.id == ModelRow.provider_id)
    if names is not None:
        if not names:
            return []
        query = query.where(ModelRow.team_id.in_({team for team, _ in names}))
        query = query.where(ModelRow.name.in_({name for _, name in names}))
    rows = list(session.execute(query))
    prices = load_prices(session, [model.id for model, _ in rows])
    return [
        ServedModel(
            model_id=model.id,
            team_id=model.team_id,
            name=model.name,
            provider_id=provider.id,
            provider=provider.name,
            provider_kind=provider.kind,
            base_url=provider.base_url,
            provider_options=dict(provider.options),
            provider_signature=_signature(provider),
            category=model.category,
            input_per_1k=float(model.cost.get("input_per_1k", 0.0)),
            output_per_1k=float(model.cost.get("output_per_1k", 0.0)),
            parameters=dict(model.parameters),
            prompt_template=model.prompt_template,
            prices=prices.get(model.id, ()),
        )
        for model, provider in rows
    ]


def _signature(provider: ProviderRow) -> str:
    options = json.dumps(provider.options, sort_keys=True, default=str)
    return f"{provider.id}|{provider.kind}|{provider.base_url}|{options}"

"""Endpoints of one team as they are read: listing, one endpoint, its route ledger, and the
rows the change functions lock and rewrite. Never commits."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from registry.buckets import Ranges
from registry.domain import Team
from registry.endpoints.domain import (
    Endpoint,
    EndpointStatus,
    Environment,
    Owner,
    OwnerKind,
    Route,
    RouteAction,
    RouteLedgerEntry,
)
from registry.endpoints.tables import EndpointRow, RouteLedgerRow, RouteRow
from registry.errors import NotFoundError
from registry.routing import RouteRole
from registry.stages import Stage
from registry.tables import ModelRow, ModelVersionRow


@dataclass(frozen=True)
class CurrentRoute:
    """A route as stored, with what the rules need to know about its version."""

    version: int
    version_id: int
    stage: Stage
    provider_model_id: str
    role: RouteRole
    weight: int
    buckets: Ranges

    @property
    def route(self) -> Route:
        return Route(version=self.version, weight=self.weight, role=self.role)

    def ledger_entry(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "role": self.role.value,
            "weight": self.weight,
            "buckets": [list(pair) for pair in self.buckets],
        }


class EndpointRepository:
    """Endpoints of one team; another team's are invisible (every query filters on team_id)."""

    def __init__(self, session: Session, team: Team | None) -> None:
        # A team that does not exist yet owns nothing: its id matches no row.
        self._session = session
        self._team_id = team.id if team is not None else -1
        self._team_name = team.name if team is not None else ""

    @property
    def session(self) -> Session:
        return self._session

    def list(self) -> builtins.list[Endpoint]:
        rows = self._session.execute(self._query().order_by(EndpointRow.name))
        return [self._view(row, model) for row, model in rows]

    def get(self, name: str) -> Endpoint:
        row = self.row(name)
        return self._view(row, self.model_name(row))

    def history(self, name: str) -> builtins.list[RouteLedgerEntry]:
        row = self.row(name)
        entries = self._session.scalars(
            select(RouteLedgerRow)
            .where(RouteLedgerRow.team_id == self._team_id, RouteLedgerRow.endpoint_id == row.id)
            .order_by(RouteLedgerRow.id)
        )
        return [_entry(entry, name) for entry in entries]

    def of_model(self, model_id: int, *, for_update: bool = False) -> builtins.list[EndpointRow]:
        query = (
            select(EndpointRow)
            .where(
                EndpointRow.team_id == self._team_id,
                EndpointRow.model_id == model_id,
                EndpointRow.status == EndpointStatus.SERVING.value,
            )
            .order_by(EndpointRow.id)
        )
        if for_update:
            query = query.with_for_update()
        return builtins.list(self._session.scalars(query))

    # -- rows, for the change functions ----------------------------------------

    def row(self, name: str, *, for_update: bool = False) -> EndpointRow:
        query = select(EndpointRow).where(
            EndpointRow.team_id == self._team_id, EndpointRow.name == name
        )
        if for_update:
            query = query.with_for_update()
        row = self._session.scalar(query)
        if row is None:
            raise self._missing(name)
        return row

    def current_routes(self, endpoint_id: int) -> builtins.list[CurrentRoute]:
        query = (
            select(RouteRow, ModelVersionRow)
            .join(ModelVersionRow, ModelVersionRow.id == RouteRow.version_id)
            .where(RouteRow.endpoint_id == endpoint_id, RouteRow.team_id == self._team_id)
        )
        routes = [_current(route, version) for route, version in self._session.execute(query)]
        # Served routes first, heaviest first; then shadows.
        return sorted(routes, key=lambda r: (r.role is RouteRole.SHADOW, -r.weight, r.version))

    def model_name(self, row: EndpointRow) -> str:
        return self._session.scalars(select(ModelRow.name).where(ModelRow.id == row.model_id)).one()

    def _query(self) -> Select[tuple[EndpointRow, str]]:
        return (
            select(EndpointRow, ModelRow.name)
            .join(ModelRow, ModelRow.id == EndpointRow.model_id)
            .where(EndpointRow.team_id == self._team_id)
        )

    def _missing(self, name: str) -> NotFoundError:
        known = self._session.scalars(
            select(EndpointRow.name)
            .where(EndpointRow.team_id == self._team_id)
            .order_by(EndpointRow.name)
        ).all()
        hint = f"; known endpoints: {', '.join(known)}" if known else "; create one first"
        return NotFoundError(f"no endpoint {name!r} in team {self._team_name or '?'!r}{hint}")

    def _view(self, row: EndpointRow, model: str) -> Endpoint:
        return Endpoint(
            id=row.id,
            team=self._team_name,
            name=row.name,
            model=model,
            environment=Environment(row.environment),
            revision=row.revision,
            status=EndpointStatus(row.status),
            routes=[current.route for current in self.current_routes(row.id)],
            owner=owner_of(row.owner_kind, row.owner_id),
            created_by=row.created_by,
            deployed_at=row.deployed_at,
            undeployed_at=row.undeployed_at,
        )


def owner_of(kind: str | None, owner_id: int | None) -> Owner | None:
    if kind is None or owner_id is None:
        return None
    return Owner(kind=OwnerKind(kind), id=owner_id)


def _current(route: RouteRow, version: ModelVersionRow) -> CurrentRoute:
    return CurrentRoute(
        version=version.version,
        version_id=version.id,
        stage=Stage(version.stage),
        provider_model_id=version.provider_model_id,
        role=RouteRole(route.role),
        weight=route.weight,
        buckets=tuple((int(start), int(end)) for start, end in route.buckets),
    )


def _entry(row: RouteLedgerRow, endpoint: str) -> RouteLedgerEntry:
    def routes(stored: list[dict[str, Any]]) -> list[Route]:
        return [Route.from_stored(r) for r in stored]

    return RouteLedgerEntry(
        id=row.id,
        endpoint=endpoint,
        revision=row.revision,
        action=RouteAction(row.action),
        actor=row.actor,
        reason=row.reason,
        before=routes(row.before),
        after=routes(row.after),
        owner=owner_of(row.owner_kind, row.owner_id),
        at=row.at,
    )

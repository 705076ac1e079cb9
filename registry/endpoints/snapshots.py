"""Route tables for the gateway's cache: every endpoint's routes as immutable snapshots,
read in one query. Across teams on purpose (one cache per gateway process); each table
carries its team id, and the gateway looks tables up by (team, name)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.endpoints.domain import EndpointStatus
from registry.endpoints.repository import EndpointRepository
from registry.endpoints.tables import EndpointRow, RouteRow
from registry.routing import RouteRole, RouteTable, ServedVersion, ShadowVersion
from registry.tables import ModelRow, ModelVersionRow


def load_route_tables(
    session: Session, endpoint_ids: Collection[int] | None = None
) -> list[RouteTable]:
    """Route tables of all endpoints (serving and undeployed), or of `endpoint_ids` only
    (what a notice names). An id with no endpoint is simply absent from the result."""
    query = select(EndpointRow, ModelRow.name).join(ModelRow, ModelRow.id == EndpointRow.model_id)
    if endpoint_ids is not None:
        query = query.where(EndpointRow.id.in_(set(endpoint_ids)))
    endpoints = list(session.execute(query.order_by(EndpointRow.id)))
    routes = _routes_by_endpoint(session, [row.id for row, _ in endpoints])
    return [_table(row, model, routes[row.id]) for row, model in endpoints]


def route_table(session: Session, team: Team, name: str) -> RouteTable:
    """One team's endpoint as a route table; another team's name is not found."""
    row = EndpointRepository(session, team).row(name)
    return load_route_tables(session, [row.id])[0]


def _routes_by_endpoint(
    session: Session, endpoint_ids: list[int]
) -> dict[int, list[tuple[RouteRow, ModelVersionRow]]]:
    grouped: dict[int, list[tuple[RouteRow, ModelVersionRow]]] = defaultdict(list)
    if not endpoint_ids:
        return grouped
    query = (
        select(RouteRow, ModelVersionRow)
        .join(ModelVersionRow, ModelVersionRow.id == RouteRow.version_id)
        .where(RouteRow.endpoint_id.in_(endpoint_ids))
        .order_by(RouteRow.endpoint_id, ModelVersionRow.version)
    )
    for route, version in session.execute(query):
        grouped[route.endpoint_id].append((route, version))
    return grouped


def _table(
    row: EndpointRow, model: str, routes: list[tuple[RouteRow, ModelVersionRow]]
) -> RouteTable:
    answering = [
        ServedVersion(
            version=version.version,
            role=RouteRole(route.role),
            weight=route.weight,
            buckets=tuple((int(start), int(end)) for start, end in route.buckets),
            version_id=version.id,
            provider_model_id=version.provider_model_id,
        )
        for route, version in routes
        if route.role != RouteRole.SHADOW.value
    ]
    shadows = tuple(
        ShadowVersion(
            version=version.version,
            percent=route.weight,
            version_id=version.id,
            provider_model_id=version.provider_model_id,
        )
        for route, version in routes
        if route.role == RouteRole.SHADOW.value
    )
    return RouteTable(
        endpoint_id=row.id,
        team_id=row.team_id,
        name=row.name,
        model=model,
        environment=row.environment,
        revision=row.revision,
        serving=row.status == EndpointStatus.SERVING.value,
        salt=bytes.fromhex(row.routing_salt),
        served=tuple(s for s in answering if s.role.splits_traffic),
        shadows=shadows,
        previews=tuple(s for s in answering if s.role is RouteRole.PREVIEW),
    )

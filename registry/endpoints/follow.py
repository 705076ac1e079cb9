"""Endpoints follow their model's stages. After a promotion or rollback, each production
endpoint serves the new production version in the same transaction (the old version's
buckets move to it, so no key is left without a route); a stage change that would leave an
endpoint routing to a version it may not serve is refused, and changes nothing.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.domain import ModelVersion, Team
from registry.endpoints.domain import Endpoint, Environment, Route, RouteAction
from registry.endpoints.repository import CurrentRoute, EndpointRepository
from registry.endpoints.rules import allowed_stages
from registry.endpoints.tables import EndpointRow
from registry.endpoints.writes import Note, write_change
from registry.errors import InvalidTransitionError
from registry.model_repository import ModelRepository
from registry.routing import RouteRole


def follow_stage_changes(
    session: Session, team: Team, model: str, *, actor: str, reason: str
) -> list[Endpoint]:
    """Bring the model's serving endpoints in line with its versions' stages as they are
    now in this transaction; returns the endpoints whose routes moved."""
    session.flush()
    models = ModelRepository(session, team)
    model_id = models.row(model).id
    production = models.production(model)
    repo = EndpointRepository(session, team)
    moved = []
    for row in repo.of_model(model_id, for_update=True):
        before = repo.current_routes(row.id)
        target = _followed(row, before, production, model)
        if sorted(target, key=_order) == sorted((c.route for c in before), key=_order):
            continue
        version_ids = {current.version: current.version_id for current in before}
        why = reason
        if production is not None:
            version_ids[production.version] = production.id
            why = f"{model} v{production.version} is in production: {reason}"
        note = Note(RouteAction.FOLLOW_STAGES, actor, why)
        moved.append(write_change(repo, row, before, note, target=target, version_ids=version_ids))
    return moved


def _followed(
    row: EndpointRow, before: list[CurrentRoute], production: ModelVersion | None, model: str
) -> list[Route]:
    """The routes `row` should have: versions it may no longer serve hand their weight to
    the production version; shadows it may no longer mirror to are dropped."""
    environment = Environment(row.environment)
    owned = row.owner_kind is not None
    served: list[Route] = []
    shadows: list[Route] = []
    displaced: list[CurrentRoute] = []
    for current in before:
        shadow = current.role is RouteRole.SHADOW
        allowed = current.stage in allowed_stages(environment, owned=owned, shadow=shadow)
        if allowed:
            (shadows if shadow else served).append(current.route)
        elif not shadow:
            displaced.append(current)
    if displaced:
        served = _hand_over(row, served, displaced, production, model)
    served_versions = {route.version for route in served}
    return served + [route for route in shadows if route.version not in served_versions]


def _hand_over(
    row: EndpointRow,
    served: list[Route],
    displaced: list[CurrentRoute],
    production: ModelVersion | None,
    model: str,
) -> list[Route]:
    first = displaced[0]
    subject = (
        f"endpoint {row.name!r} ({row.environment}) routes {first.weight}% to "
        f"{model} v{first.version}"
    )
    if row.environment != Environment.PRODUCTION.value:
        raise InvalidTransitionError(
            f"{subject}, which would be {first.stage}: it routes only to versions neither "
            f"rejected nor archived, so route it away first (`modelops endpoints route "
            f"{row.name} …`); nothing changed"
        )
    if production is None:
        raise InvalidTransitionError(
            f"{subject}, and no production version would be left to serve it; undeploy the "
            f"endpoint first (`modelops endpoints undeploy {row.name} …`) or promote another "
            "version; nothing changed"
        )
    weight = sum(current.weight for current in displaced)
    was_stable = any(current.role is RouteRole.STABLE for current in displaced)
    kept = [route for route in served if route.version != production.version]
    existing = next((route for route in served if route.version == production.version), None)
    stable_left = any(route.role is RouteRole.STABLE for route in kept)
    if was_stable or (existing is None and not stable_left):
        role = RouteRole.STABLE
    else:
        role = existing.role if existing is not None else RouteRole.CANARY
    heir = Route(
        version=production.version,
        weight=weight + (existing.weight if existing else 0),
        role=role,
    )
    return sorted([heir, *kept], key=_order)


def _order(route: Route) -> tuple[bool, int, int]:
    return (route.role is RouteRole.SHADOW, -route.weight, route.version)

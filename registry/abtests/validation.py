"""A definition checked against the registry: the endpoint serves and is free, both
variants are versions of its model that it may route while a test owns it, the control
is what a production endpoint serves, and a winner could be promoted where asked."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from registry.abtests.definition import ABTestDefinition
from registry.domain import Team
from registry.endpoints import EndpointOwnedError, EndpointRepository, EndpointStatus, Environment
from registry.endpoints.domain import Route
from registry.endpoints.repository import owner_of
from registry.endpoints.tables import EndpointRow
from registry.endpoints.writes import check_routes, versions_of
from registry.errors import InvalidInputError, InvalidTransitionError, NotFoundError
from registry.routing import RouteRole
from registry.stages import ALLOWED_TRANSITIONS, Stage
from registry.tables import ModelVersionRow


@dataclass(frozen=True)
class CheckedDefinition:
    endpoint: EndpointRow
    a: ModelVersionRow
    b: ModelVersionRow


def check_definition(
    session: Session, team: Team, definition: ABTestDefinition
) -> CheckedDefinition:
    repo = EndpointRepository(session, team)
    endpoint = repo.row(definition.endpoint)
    if endpoint.status != EndpointStatus.SERVING.value:
        raise InvalidTransitionError(
            f"endpoint {endpoint.name!r} is undeployed; an A/B test needs a serving endpoint"
        )
    owner = owner_of(endpoint.owner_kind, endpoint.owner_id)
    if owner is not None:
        raise EndpointOwnedError(
            f"endpoint {endpoint.name!r} is owned by {owner}; an A/B test can start only "
            "once that one ends"
        )
    a, b = definition.a, definition.b
    try:
        versions = versions_of(session, endpoint, [a.version, b.version])
    except NotFoundError as exc:  # a version of another model (or team): name the field
        raise InvalidInputError(f"variants: {exc}", field="variants") from None
    stages = {number: Stage(row.stage) for number, row in versions.items()}
    routes = [
        Route(version=a.version, weight=a.weight, role=RouteRole.STABLE),
        Route(version=b.version, weight=b.weight, role=RouteRole.VARIANT),
    ]
    try:
        check_routes(session, endpoint, routes, stages, owned=True)
    except InvalidInputError as exc:
        raise InvalidInputError(f"variants: {exc}", field="variants") from None
    _check_control(endpoint, a.version, stages[a.version])
    _check_promotion(definition, stages[b.version])
    return CheckedDefinition(endpoint=endpoint, a=versions[a.version], b=versions[b.version])


def _check_control(endpoint: EndpointRow, version: int, stage: Stage) -> None:
    """On a production endpoint a is the production version: whatever the verdict, the
    endpoint can go back to serving it alone."""
    if endpoint.environment == Environment.PRODUCTION.value and stage is not Stage.PRODUCTION:
        raise InvalidInputError(
            f"variants: on production endpoint {endpoint.name!r} a (the control) must be the "
            f"production version; v{version} is in {stage}",
            field="variants",
        )


def _check_promotion(definition: ABTestDefinition, stage: Stage) -> None:
    target = definition.promote_to
    if target is None or target in ALLOWED_TRANSITIONS[stage]:
        return
    reachable = sorted(
        s.value for s in ALLOWED_TRANSITIONS[stage] if s not in (Stage.ARCHIVED, Stage.REJECTED)
    )
    nexts = f"to {' or '.join(reachable)}" if reachable else "nowhere further"
    raise InvalidInputError(
        f"promote_to: b (v{definition.b.version}) is in {stage} and can be promoted {nexts}, "
        f"not to {target}; set promote_to accordingly or leave it empty",
        field="promote_to",
    )

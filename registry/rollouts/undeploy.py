"""Taking a version off an endpoint (its weight handed to the versions that stay, in one
transaction, so no routing key is ever left without a route) or the whole endpoint."""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.domain import Team
from registry.endpoints import (
    Endpoint,
    EndpointChange,
    EndpointRepository,
    RouteChange,
    ShadowedVersion,
    WeightedVersion,
    set_routes,
    undeploy_endpoint,
)
from registry.errors import ConflictError, InvalidInputError, translate_database_errors
from registry.rollouts.repository import RolloutRepository
from registry.rollouts.routes import shares
from registry.routing import RouteRole


def undeploy_version(
    session: Session, team: Team, endpoint: str, version: int, *, actor: str, reason: str
) -> Endpoint:
    """Route `version`'s weight to the others in proportion (a shadow simply stops)."""
    with translate_database_errors(f"taking v{version} off {endpoint}"):
        current = _unowned(session, team, endpoint)
        served = [r for r in current.routes if r.role is not RouteRole.SHADOW]
        shadows = [r for r in current.routes if r.role is RouteRole.SHADOW]
        if version not in {r.version for r in current.routes}:
            listed = ", ".join(f"v{r.version}" for r in current.routes)
            raise InvalidInputError(
                f"endpoint {endpoint!r} does not route v{version} (it routes {listed})",
                field="version",
            )
        kept = [r for r in served if r.version != version]
        if not kept:
            raise InvalidInputError(
                f"v{version} is all endpoint {endpoint!r} serves: taking it off would leave no "
                "route; undeploy the whole endpoint instead (no version)",
                field="version",
            )
        weights = shares([r.weight for r in kept], 100)
        change = RouteChange(
            endpoint=endpoint,
            routes=[
                WeightedVersion(version=r.version, weight=w, role=r.role)
                for r, w in zip(kept, weights, strict=True)
                if w > 0
            ],
            shadows=[
                ShadowedVersion(version=r.version, percent=r.weight)
                for r in shadows
                if r.version != version
            ],
            actor=actor,
            reason=f"undeploy v{version}: {reason}"[:4000],
            expect_revision=current.revision,
        )
        return set_routes(session, team, change)


def undeploy_whole(
    session: Session, team: Team, endpoint: str, *, actor: str, reason: str
) -> Endpoint:
    """Stop the endpoint accepting new requests (those already routed finish)."""
    with translate_database_errors(f"undeploying {endpoint}"):
        _unowned(session, team, endpoint)
        change = EndpointChange(endpoint=endpoint, actor=actor, reason=f"undeploy: {reason}"[:4000])
        return undeploy_endpoint(session, team, change)


def _unowned(session: Session, team: Team, endpoint: str) -> Endpoint:
    current = EndpointRepository(session, team).get(endpoint)
    row = EndpointRepository(session, team).row(endpoint)
    active = RolloutRepository(session, team).active_on(row.id)
    if active is not None:
        raise ConflictError(
            f"endpoint {endpoint!r} is being deployed by rollout #{active.id}; abort it first "
            f"(`modelops rollouts abort {active.id}`); nothing changed"
        )
    return current

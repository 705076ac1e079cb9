"""The routes each step of a rollout asks for, and the one way a rollout moves them:
`set_routes` as the endpoint's owner (weights sum to 100, compare-and-set, route ledger)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.domain import Team
from registry.endpoints import (
    EndpointRepository,
    Owner,
    OwnerKind,
    Route,
    RouteChange,
    ShadowedVersion,
    WeightedVersion,
    set_routes,
)
from registry.rollouts.domain import Rollout, Strategy
from registry.routing import RouteRole


def step_routes(rollout: Rollout, step: int) -> list[Route]:
    """What the endpoint serves at `step`: the candidate's weight, the rest shared by the
    versions that served before in their proportions; shadows kept. Shadow strategy: the
    routes from before plus the candidate mirrored."""
    before = rollout.routes_before
    shadows = [r for r in before if r.role is RouteRole.SHADOW and r.version != rollout.version]
    if rollout.strategy is Strategy.SHADOW:
        served = [r for r in before if r.role is not RouteRole.SHADOW]
        mirror = Route(
            version=rollout.version, weight=rollout.policy.shadow_percent, role=RouteRole.SHADOW
        )
        return [*served, *shadows, mirror]
    weight = rollout.policy.steps[step]
    baseline = [r for r in before if r.role.splits_traffic and r.version != rollout.version]
    if rollout.strategy is Strategy.BLUE_GREEN:
        return _blue_green(rollout, weight, baseline, shadows)
    if weight == 100:
        return final_routes(rollout)
    parts = shares([r.weight for r in baseline], 100 - weight)
    served = [
        Route(version=r.version, weight=share, role=r.role)
        for r, share in zip(baseline, parts, strict=True)
        if share > 0
    ]
    candidate = Route(version=rollout.version, weight=weight, role=RouteRole.CANARY)
    return [*served, candidate, *shadows]


def final_routes(rollout: Rollout) -> list[Route]:
    """The candidate alone, as the rollout leaves the endpoint when it succeeds."""
    shadows = [
        r for r in rollout.routes_before
        if r.role is RouteRole.SHADOW and r.version != rollout.version
    ]  # fmt: skip
    return [Route(version=rollout.version, weight=100, role=RouteRole.STABLE), *shadows]


def _blue_green(
    rollout: Rollout, weight: int, baseline: list[Route], shadows: list[Route]
) -> list[Route]:
    """Before the switch the candidate is a preview beside the routes from before; after
    it, the candidate serves 100% and the old versions stay warm as previews, so switching
    back is one route change."""
    if weight == 0:
        preview = Route(version=rollout.version, weight=0, role=RouteRole.PREVIEW)
        return [*baseline, preview, *shadows]
    warm = [Route(version=r.version, weight=0, role=RouteRole.PREVIEW) for r in baseline]
    return [Route(version=rollout.version, weight=100, role=RouteRole.STABLE), *warm, *shadows]


def shares(weights: list[int], total: int) -> list[int]:
    """`total` split in proportion to `weights` by largest remainder (sums exactly)."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    whole_parts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - whole_parts[i], reverse=True)
    for i in order[: total - sum(whole_parts)]:
        whole_parts[i] += 1
    return whole_parts


def apply_routes(
    session: Session, team: Team, rollout: Rollout, routes: list[Route], reason: str
) -> list[Route]:
    """Set `routes` as the rollout's owner (unless the endpoint has them already)."""
    current = EndpointRepository(session, team).get(rollout.endpoint)
    if _key(current.routes) == _key(routes):
        return list(current.routes)
    change = RouteChange(
        endpoint=rollout.endpoint,
        routes=[
            WeightedVersion(version=r.version, weight=r.weight, role=r.role)
            for r in routes
            if r.role.splits_traffic
        ],
        shadows=[
            ShadowedVersion(version=r.version, percent=r.weight)
            for r in routes
            if r.role is RouteRole.SHADOW
        ],
        previews=[r.version for r in routes if r.role is RouteRole.PREVIEW],
        actor=rollout.created_by,
        reason=reason[:4000],
    )
    owner = Owner(kind=OwnerKind.ROLLOUT, id=rollout.id)
    return list(set_routes(session, team, change, owner=owner).routes)


def _key(routes: list[Route]) -> set[tuple[int, int, str]]:
    return {(r.version, r.weight, r.role.value) for r in routes}

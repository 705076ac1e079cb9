"""The rules every endpoint's routes obey, one function each: which versions an environment
may route to, and the shape of a set of routes (weights, roles, duplicates)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from registry.endpoints.domain import Environment, Route, WeightedVersion
from registry.errors import InvalidInputError
from registry.routing import RouteRole
from registry.stages import Stage

LIVE = frozenset({Stage.DEVELOPMENT, Stage.TESTING, Stage.STAGING, Stage.PRODUCTION})
CANDIDATES = frozenset({Stage.STAGING, Stage.PRODUCTION})
PRODUCTION_ONLY = frozenset({Stage.PRODUCTION})


def allowed_stages(environment: Environment, *, owned: bool, shadow: bool) -> frozenset[Stage]:
    """Stages a version may be in to be routed on an endpoint.

    A production endpoint serves only the production version; a staging candidate may join
    it while a rollout or A/B test owns the endpoint, or as a shadow (which never answers).
    Development and staging endpoints route to any version neither rejected nor archived.
    """
    if environment is not Environment.PRODUCTION:
        return LIVE
    return CANDIDATES if owned or shadow else PRODUCTION_ONLY


def check_routable(
    environment: Environment, stage: Stage, *, owned: bool, shadow: bool, subject: str
) -> None:
    """Refuse to route `subject` ("support-intent v4") in `stage` on such an endpoint."""
    if stage in allowed_stages(environment, owned=owned, shadow=shadow):
        return
    if environment is not Environment.PRODUCTION:
        rule = f"a {environment} endpoint routes only to versions neither rejected nor archived"
    elif owned or shadow:
        rule = "a production endpoint routes only to the production version and staging candidates"
    else:
        rule = (
            "a production endpoint serves only the model's production version; a candidate "
            "joins it as a shadow, or while a rollout or A/B test owns the endpoint"
        )
    raise InvalidInputError(f"{subject} is in {stage}: {rule}", field="routes")


def check_route_set(served: Sequence[Route], unweighted: Sequence[Route]) -> None:
    """Weights of served routes sum to 100, a version appears once (served, shadowed or
    previewed), at most one is stable."""
    listed = Counter(route.version for route in [*served, *unweighted])
    twice = sorted(version for version, count in listed.items() if count > 1)
    if twice:
        names = ", ".join(f"v{version}" for version in twice)
        raise InvalidInputError(
            f"{names} listed more than once; a version is either served (V=W) or shadowed "
            "(--shadow V=P), once",
            field="routes",
        )
    total = sum(route.weight for route in served)
    if total != 100:
        given = " ".join(f"{route.version}={route.weight}" for route in served)
        raise InvalidInputError(
            f"weights of served routes must sum to 100, got {total} ({given})", field="routes"
        )
    stable = [route.version for route in served if route.role is RouteRole.STABLE]
    if len(stable) > 1:
        names = ", ".join(f"v{version}" for version in stable)
        raise InvalidInputError(
            f"{names} are all stable; at most one route is, name the others' role "
            f"(e.g. {stable[-1]}=W:canary)",
            field="routes",
        )


def choose_roles(
    requested: Sequence[WeightedVersion], current: Mapping[int, RouteRole]
) -> list[Route]:
    """Roles for `V=W` entries: the one named, else the role the version has now; a version
    new to the endpoint is stable if nothing else is, else canary. A version serving 100%
    alone is stable unless named otherwise."""
    roles: dict[int, RouteRole | None] = {
        item.version: item.role or current.get(item.version) for item in requested
    }
    if len(requested) == 1 and requested[0].role is None:
        roles[requested[0].version] = RouteRole.STABLE
    for item in requested:
        if roles[item.version] is None:
            has_stable = RouteRole.STABLE in roles.values()
            roles[item.version] = RouteRole.CANARY if has_stable else RouteRole.STABLE
    return [
        Route(
            version=item.version, weight=item.weight, role=roles[item.version] or RouteRole.CANARY
        )
        for item in requested
    ]

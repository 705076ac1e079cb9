"""Endpoints follow their model's stages in the same transaction: a promotion or rollback
moves production endpoints to the new production version; a stage change that would leave
an endpoint routing to a version it may not serve is refused and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from registry.domain import Team
from registry.endpoints import (
    EndpointChange,
    Environment,
    Owner,
    OwnerKind,
    RouteAction,
    claim_endpoint,
    route_table,
    set_routes,
    undeploy_endpoint,
)
from registry.errors import InvalidTransitionError
from registry.lifecycle import RollbackRequest, rollback
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tests.registry.test_endpoints_support import (
    MODEL,
    change,
    claim,
    create,
    get,
    history,
    move,
    route,
    routes_of,
)
from tests.registry.test_endpoints_support import sessions as sessions
from tests.registry.test_endpoints_support import team as team

KEYS = [f"user-{n}" for n in range(3_000)]


def stage_of(session: Session, team: Team, version: int) -> Stage:
    return ModelRepository(session, team).version(MODEL, version).stage


def test_a_promotion_moves_the_production_endpoint_to_the_new_version_at_once(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-prod")
        move(session, team, 2, Stage.PRODUCTION, reason="v2 passed its gates")
        # Same transaction: nobody ever reads v1 archived while the endpoint still serves it.
        assert routes_of(get(session, team, "support-prod")) == [(2, 100, "stable")]
    with sessions() as session:
        endpoint = get(session, team, "support-prod")
        last = history(session, team, "support-prod")[-1]
        table = route_table(session, team, "support-prod")
    assert endpoint.revision == 2
    assert (last.action, last.actor) == (RouteAction.FOLLOW_STAGES, "carol")
    assert last.reason == "support-intent v2 is in production: v2 passed its gates"
    assert {table.assign(key).version for key in KEYS} == {2}


def test_a_rollback_moves_it_back(sessions: sessionmaker[Session], team: Team) -> None:
    with sessions.begin() as session:
        create(session, team, "support-prod")
        move(session, team, 2, Stage.PRODUCTION)
        request = RollbackRequest(model=MODEL, actor="erin", reason="error rate doubled")
        rollback(session, team, request)
    with sessions() as session:
        endpoint = get(session, team, "support-prod")
        last = history(session, team, "support-prod")[-1]
    assert routes_of(endpoint) == [(1, 100, "stable")] and endpoint.revision == 3
    assert (last.action, last.actor) == (RouteAction.FOLLOW_STAGES, "erin")


def test_promoting_the_canary_of_an_owned_endpoint_keeps_its_keys_and_takes_stable_ones(
    sessions: sessionmaker[Session], team: Team
) -> None:
    rollout = Owner(kind=OwnerKind.ROLLOUT, id=1)
    with sessions.begin() as session:
        create(session, team, "support-prod")
        claim_endpoint(session, team, claim("support-prod"), rollout)
        set_routes(session, team, change("support-prod", {1: 75, 2: 25}), owner=rollout)
        before = route_table(session, team, "support-prod")
        move(session, team, 2, Stage.PRODUCTION)
        after = route_table(session, team, "support-prod")
    assert [(s.version, s.weight, s.role.value) for s in after.served] == [(2, 100, "stable")]
    assert all(after.assign(key).version == 2 for key in KEYS if before.assign(key).version == 2)
    with sessions() as session:
        assert get(session, team, "support-prod").owner == rollout  # still the rollout's


def test_a_shadow_that_becomes_production_is_served_instead_of_mirrored(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-prod")
        route(session, team, "support-prod", {1: 100}, shadows={2: 10})
        move(session, team, 2, Stage.PRODUCTION)
        assert routes_of(get(session, team, "support-prod")) == [(2, 100, "stable")]


def test_archiving_the_production_version_a_production_endpoint_serves_is_refused(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-prod")
    with pytest.raises(InvalidTransitionError, match="no production version would be left"):
        with sessions.begin() as session:
            move(session, team, 1, Stage.ARCHIVED)
    with sessions.begin() as session:
        assert stage_of(session, team, 1) is Stage.PRODUCTION  # nothing changed
        undeploy_endpoint(
            session, team, EndpointChange(endpoint="support-prod", actor="a", reason="r")
        )
        move(session, team, 1, Stage.ARCHIVED)  # an undeployed endpoint holds nothing back
        assert stage_of(session, team, 1) is Stage.ARCHIVED


def test_rejecting_a_version_a_staging_endpoint_serves_is_refused_until_routed_away(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-staging", Environment.STAGING, version=2)
        route(session, team, "support-staging", {2: 50, 3: 50})
    with pytest.raises(InvalidTransitionError, match="routes 50% to support-intent v3, which"):
        with sessions.begin() as session:
            move(session, team, 3, Stage.REJECTED)
    with sessions.begin() as session:
        assert stage_of(session, team, 3) is Stage.DEVELOPMENT
        route(session, team, "support-staging", {2: 100})
        move(session, team, 3, Stage.REJECTED)


def test_a_shadow_of_a_rejected_version_is_dropped_and_recorded(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-staging", Environment.STAGING, version=2)
        route(session, team, "support-staging", {2: 100}, shadows={3: 20})
        move(session, team, 3, Stage.REJECTED, reason="bad eval")
    with sessions() as session:
        assert routes_of(get(session, team, "support-staging")) == [(2, 100, "stable")]
        assert history(session, team, "support-staging")[-1].action is RouteAction.FOLLOW_STAGES


def test_stage_moves_that_touch_no_served_version_leave_endpoints_alone(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-prod")
        move(session, team, 3, Stage.TESTING)
        move(session, team, 3, Stage.REJECTED)
    with sessions() as session:
        assert get(session, team, "support-prod").revision == 1

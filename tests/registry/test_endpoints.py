"""Endpoints and routes on PostgreSQL and SQLite: creation, the routing rules, compare-and-set,
ownership by a rollout, undeploy. Every refused change changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from registry.domain import Team
from registry.endpoints import (
    EndpointChange,
    EndpointOwnedError,
    EndpointStatus,
    Environment,
    Owner,
    OwnerKind,
    RouteAction,
    claim_endpoint,
    release_endpoint,
    route_table,
    set_routes,
    undeploy_endpoint,
)
from registry.errors import ConflictError, InvalidInputError, InvalidTransitionError, NotFoundError
from registry.routing import RouteRole
from registry.stages import Stage
from tests.registry.seed import add_version, seed_model
from tests.registry.test_endpoints_support import (
    change,
    claim,
    create,
    get,
    history,
    ledger_size,
    move,
    route,
    routes_of,
    seed_versions,
)
from tests.registry.test_endpoints_support import sessions as sessions
from tests.registry.test_endpoints_support import team as team

ROLLOUT = Owner(kind=OwnerKind.ROLLOUT, id=7)


def test_a_production_endpoint_starts_on_the_production_version(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        endpoint = create(session, team, "support-prod")
    assert routes_of(endpoint) == [(1, 100, "stable")]
    assert (endpoint.revision, endpoint.status, endpoint.environment) == (
        1,
        EndpointStatus.SERVING,
        Environment.PRODUCTION,
    )
    with sessions() as session:
        [entry] = history(session, team, "support-prod")
    assert (entry.action, entry.actor, entry.revision, entry.before) == ("create", "ann", 1, [])


def test_a_staging_endpoint_starts_on_the_newest_live_version(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        move(session, team, 3, Stage.REJECTED)
        endpoint = create(session, team, "support-staging", Environment.STAGING)
    assert routes_of(endpoint) == [(2, 100, "stable")]  # v3 is rejected, v2 is the newest live


@pytest.mark.parametrize(
    ("environment", "version", "error", "message"),
    [
        (Environment.PRODUCTION, 2, InvalidInputError, "v2 is in staging: a production endpoint serves only"),
        (Environment.STAGING, 9, InvalidInputError, "has no version 9"),
        (Environment.DEVELOPMENT, 4, InvalidInputError, "v4 is in archived: a development endpoint routes only"),
    ],
)  # fmt: skip
def test_create_refuses_a_version_the_environment_may_not_serve(
    sessions: sessionmaker[Session],
    team: Team,
    environment: Environment,
    version: int,
    error: type[Exception],
    message: str,
) -> None:
    with sessions.begin() as session:
        add_version(session, team)  # v4
        move(session, team, 4, Stage.ARCHIVED)
    with pytest.raises(error, match=message), sessions.begin() as session:
        create(session, team, "e", environment, version)
    with sessions() as session:
        assert ledger_size(session) == 0


def test_create_refuses_a_production_endpoint_for_a_model_without_production(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        bare = seed_model(session, "beta")
        add_version(session, bare)
    with pytest.raises(InvalidInputError, match="has no production version; promote one first"):
        with sessions.begin() as session:
            create(session, bare, "e")


def test_a_name_is_taken_once_per_team_even_after_undeploy(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-prod")
        undeploy_endpoint(
            session, team, EndpointChange(endpoint="support-prod", actor="a", reason="r")
        )
    with pytest.raises(InvalidInputError, match="'support-prod' \\(undeployed\\); names are never"):
        with sessions.begin() as session:
            create(session, team, "support-prod")


def test_routing_a_staging_endpoint_bumps_the_revision_and_records_before_and_after(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-staging", Environment.STAGING, version=2)
        endpoint = route(session, team, "support-staging", {2: 90, 3: 10}, expect=1)
    assert routes_of(endpoint) == [(2, 90, "stable"), (3, 10, "canary")]
    assert endpoint.revision == 2
    with sessions() as session:
        last = history(session, team, "support-staging")[-1]
        table = route_table(session, team, "support-staging")
    assert (last.action, last.actor, last.reason, last.revision) == ("route", "bob", "test move", 2)
    assert [(r.version, r.weight) for r in last.before] == [(2, 100)]
    assert [(r.version, r.weight) for r in last.after] == [(2, 90), (3, 10)]
    assert table.revision == 2
    assert {s.version: s.buckets for s in table.served} == {2: ((0, 9000),), 3: ((9000, 10000),)}


@pytest.mark.parametrize(
    ("weights", "roles", "message"),
    [
        ({2: 80, 3: 10}, {}, "must sum to 100, got 90 \\(2=80 3=10\\)"),
        ({2: 50, 3: 50}, {2: RouteRole.STABLE, 3: RouteRole.STABLE}, "v2, v3 are all stable"),
        (
            {2: 90, 9: 10},
            {},
            "model 'support-intent' of endpoint 'support-staging' has no version 9",
        ),
    ],
)
def test_bad_routes_are_refused_and_change_nothing(
    sessions: sessionmaker[Session],
    team: Team,
    weights: dict[int, int],
    roles: dict[int, RouteRole],
    message: str,
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-staging", Environment.STAGING, version=2)
    with pytest.raises((InvalidInputError, NotFoundError), match=message):
        with sessions.begin() as session:
            route(session, team, "support-staging", weights, roles=roles)
    with sessions() as session:
        assert get(session, team, "support-staging").revision == 1
        assert ledger_size(session) == 1


def test_a_version_served_and_shadowed_at_once_is_refused(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-staging", Environment.STAGING, version=2)
    with pytest.raises(InvalidInputError, match="v2 listed more than once"):
        with sessions.begin() as session:
            route(session, team, "support-staging", {2: 100}, shadows={2: 10})


def test_versions_of_another_model_cannot_be_routed(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        team = seed_versions(session, "alpha")
        seed_versions(session, "alpha", model="ranker")
        add_version(session, team, "ranker")  # ranker has v4, support-intent does not
        create(session, team, "support-staging", Environment.STAGING, version=2)
    with pytest.raises(NotFoundError, match="has no version 4"), sessions.begin() as session:
        route(session, team, "support-staging", {2: 50, 4: 50})


def test_a_stale_expected_revision_is_a_conflict_that_changes_nothing(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-staging", Environment.STAGING, version=2)
        route(session, team, "support-staging", {2: 90, 3: 10})
    with pytest.raises(ConflictError, match="at revision 2, not 1 as expected; nothing changed"):
        with sessions.begin() as session:
            route(session, team, "support-staging", {2: 50, 3: 50}, expect=1)
    with sessions() as session:
        assert routes_of(get(session, team, "support-staging")) == [
            (2, 90, "stable"),
            (3, 10, "canary"),
        ]


def test_a_production_endpoint_serves_only_the_production_version(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-prod")
    with pytest.raises(InvalidInputError, match="support-intent v2 is in staging: a production"):
        with sessions.begin() as session:
            route(session, team, "support-prod", {1: 90, 2: 10})
    with sessions() as session:
        assert get(session, team, "support-prod").revision == 1


def test_a_production_endpoint_may_shadow_a_staging_candidate_but_not_a_development_one(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-prod")
        endpoint = route(session, team, "support-prod", {1: 100}, shadows={2: 25})
    assert routes_of(endpoint) == [(1, 100, "stable"), (2, 25, "shadow")]
    with pytest.raises(InvalidInputError, match="v3 is in development"):
        with sessions.begin() as session:
            route(session, team, "support-prod", {1: 100}, shadows={3: 25})


def test_an_owning_rollout_may_place_a_candidate_and_others_may_not_route(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-prod")
        claimed = claim_endpoint(session, team, claim("support-prod"), ROLLOUT)
        canary = set_routes(session, team, change("support-prod", {1: 95, 2: 5}), owner=ROLLOUT)
    assert claimed.owner == ROLLOUT and claimed.revision == 2
    assert routes_of(canary) == [(1, 95, "stable"), (2, 5, "canary")]
    for caller in (None, Owner(kind=OwnerKind.AB_TEST, id=7)):
        with pytest.raises(EndpointOwnedError, match="is owned by rollout 7"):
            with sessions.begin() as session:
                set_routes(session, team, change("support-prod", {1: 100}), owner=caller)
    with pytest.raises(InvalidInputError, match="v3 is in development"):  # still a rule
        with sessions.begin() as session:
            set_routes(session, team, change("support-prod", {1: 95, 3: 5}), owner=ROLLOUT)


def test_claims_are_exclusive_and_release_needs_production_only_routes(
    sessions: sessionmaker[Session], team: Team
) -> None:
    ab = Owner(kind=OwnerKind.AB_TEST, id=3)
    with sessions.begin() as session:
        create(session, team, "support-prod")
        claim_endpoint(session, team, claim("support-prod"), ROLLOUT)
        again = claim_endpoint(session, team, claim("support-prod"), ROLLOUT)
        set_routes(session, team, change("support-prod", {1: 75, 2: 25}), owner=ROLLOUT)
    assert again.revision == 2  # claiming twice is a no-op, so a resumed flow may repeat it
    with pytest.raises(EndpointOwnedError, match="owned by rollout 7; ab test 3 cannot claim"):
        with sessions.begin() as session:
            claim_endpoint(session, team, claim("support-prod"), ab)
    with pytest.raises(InvalidTransitionError, match=r"rollout 7 cannot release .* route it first"):
        with sessions.begin() as session:
            release_endpoint(session, team, claim("support-prod"), ROLLOUT)
    with sessions.begin() as session:
        set_routes(session, team, change("support-prod", {1: 100}), owner=ROLLOUT)
        released = release_endpoint(session, team, claim("support-prod"), ROLLOUT)
    assert released.owner is None
    with sessions() as session:
        actions = [e.action for e in history(session, team, "support-prod")]
        owners = [e.owner for e in history(session, team, "support-prod")]
    assert actions == ["create", "claim", "route", "route", "release"]
    assert owners == [None, ROLLOUT, ROLLOUT, ROLLOUT, ROLLOUT]


def test_undeploy_stops_serving_records_who_and_why_and_keeps_the_routes(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-prod")
        endpoint = undeploy_endpoint(
            session, team, EndpointChange(endpoint="support-prod", actor="dana", reason="retired")
        )
    assert endpoint.status is EndpointStatus.UNDEPLOYED and endpoint.undeployed_at is not None
    assert routes_of(endpoint) == [(1, 100, "stable")]
    with sessions() as session:
        last = history(session, team, "support-prod")[-1]
        table = route_table(session, team, "support-prod")
    assert (last.action, last.actor, last.reason) == (RouteAction.UNDEPLOY, "dana", "retired")
    assert table.serving is False and table.assign("alice").version == 1  # in-flight still resolve
    with pytest.raises(InvalidTransitionError, match=r"was undeployed at .* routes nothing"):
        with sessions.begin() as session:
            route(session, team, "support-prod", {1: 100})
    with pytest.raises(InvalidTransitionError, match="already undeployed"):
        with sessions.begin() as session:
            undeploy_endpoint(session, team, claim("support-prod"))


def test_development_and_staging_endpoints_refuse_rejected_and_archived_versions(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-dev", Environment.DEVELOPMENT, version=3)
        move(session, team, 2, Stage.REJECTED)
    with pytest.raises(InvalidInputError, match="v2 is in rejected: a development endpoint"):
        with sessions.begin() as session:
            route(session, team, "support-dev", {3: 50, 2: 50})
    with sessions.begin() as session:
        endpoint = route(session, team, "support-dev", {3: 50, 1: 50})  # production is live
    assert routes_of(endpoint) == [(1, 50, "canary"), (3, 50, "stable")]


def test_a_single_version_at_a_hundred_is_stable_and_named_roles_win(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-dev", Environment.DEVELOPMENT, version=3)
        route(session, team, "support-dev", {3: 50, 2: 50})
        alone = route(session, team, "support-dev", {2: 100})
        variants = route(
            session, team, "support-dev", {2: 50, 3: 50},
            roles={2: RouteRole.VARIANT, 3: RouteRole.VARIANT},
        )  # fmt: skip
    assert routes_of(alone) == [(2, 100, "stable")]
    assert routes_of(variants) == [(2, 50, "variant"), (3, 50, "variant")]

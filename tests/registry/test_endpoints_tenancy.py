"""One team never sees, routes, undeploys or claims another team's endpoints."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from registry.endpoints import (
    EndpointChange,
    EndpointRepository,
    Owner,
    OwnerKind,
    claim_endpoint,
    load_route_tables,
    route_table,
    undeploy_endpoint,
)
from registry.errors import NotFoundError
from tests.registry.test_endpoints_support import create, get, route, routes_of, seed_versions
from tests.registry.test_endpoints_support import sessions as sessions


def test_team_b_cannot_reach_team_a_endpoints_and_may_reuse_the_name(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        alpha, beta = seed_versions(session, "alpha"), seed_versions(session, "beta")
        create(session, alpha, "support-prod")
    stop = EndpointChange(endpoint="support-prod", actor="mallory", reason="x")
    attempts = [
        lambda s: EndpointRepository(s, beta).get("support-prod"),
        lambda s: EndpointRepository(s, beta).history("support-prod"),
        lambda s: route_table(s, beta, "support-prod"),
        lambda s: route(s, beta, "support-prod", {1: 100}),
        lambda s: undeploy_endpoint(s, beta, stop),
        lambda s: claim_endpoint(s, beta, stop, Owner(kind=OwnerKind.ROLLOUT, id=1)),
    ]
    for attempt in attempts:
        with pytest.raises(NotFoundError, match="no endpoint 'support-prod' in team 'beta'"):
            with sessions.begin() as session:
                attempt(session)
    with sessions.begin() as session:
        assert EndpointRepository(session, beta).list() == []
        theirs = get(session, alpha, "support-prod")
        assert (theirs.revision, theirs.owner, routes_of(theirs)) == (1, None, [(1, 100, "stable")])
        ours = create(session, beta, "support-prod")
    assert ours.id != theirs.id
    with sessions() as session:
        tables = {(t.team_id, t.name): t for t in load_route_tables(session)}
    assert set(tables) == {(alpha.id, "support-prod"), (beta.id, "support-prod")}
    assert tables[(alpha.id, "support-prod")].salt != tables[(beta.id, "support-prod")].salt

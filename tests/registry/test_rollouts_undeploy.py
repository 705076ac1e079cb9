"""undeploy: a version's weight moves to the versions that stay in one change (never leaving
a key without a route), the last served version cannot be taken off, the whole endpoint
stops; all refused while a rollout owns the endpoint."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from registry.domain import Team
from registry.endpoints import EndpointRepository, EndpointStatus, Environment, set_routes
from registry.errors import ConflictError, InvalidInputError
from registry.rollouts.undeploy import undeploy_version, undeploy_whole
from tests.registry.abtest_support import Clock
from tests.registry.rollout_support import ENDPOINT, sessions, started, team
from tests.registry.test_endpoints_support import change, create, ledger_size

__all__ = ["sessions", "team"]


def test_a_version_taken_off_hands_its_weight_to_the_others_in_one_change(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "support-dev", Environment.DEVELOPMENT, version=1)
        set_routes(session, team, change("support-dev", {1: 50, 2: 30, 3: 20}))
        before = ledger_size(session)
        endpoint = undeploy_version(session, team, "support-dev", 3, actor="ann", reason="done")
        assert [(r.version, r.weight) for r in endpoint.routes] == [(1, 63), (2, 37)]
        assert ledger_size(session) == before + 1
        history = EndpointRepository(session, team).history("support-dev")
    assert history[-1].reason == "undeploy v3: done" and history[-1].actor == "ann"


def test_the_last_version_or_one_not_routed_is_refused_naming_why(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        with pytest.raises(InvalidInputError, match="would leave no route") as last:
            undeploy_version(session, team, ENDPOINT, 1, actor="ann", reason="x")
        assert last.value.field == "version"
        with pytest.raises(InvalidInputError, match="does not route v3 \\(it routes v1\\)"):
            undeploy_version(session, team, ENDPOINT, 3, actor="ann", reason="x")


def test_the_whole_endpoint_stops_and_a_rollout_blocks_both(
    sessions: sessionmaker[Session], team: Team
) -> None:
    rollout_id = started(sessions, team, Clock())
    with sessions.begin() as session:
        for attempt in (
            lambda: undeploy_version(session, team, ENDPOINT, 2, actor="ann", reason="x"),
            lambda: undeploy_whole(session, team, ENDPOINT, actor="ann", reason="x"),
        ):
            with pytest.raises(ConflictError, match=f"rollout #{rollout_id}; abort it first"):
                attempt()
    from registry.rollouts.settle import abort_rollout

    with sessions.begin() as session:
        abort_rollout(session, team, rollout_id, actor="ann", reason="stop")
        stopped = undeploy_whole(session, team, ENDPOINT, actor="ann", reason="retired")
    assert stopped.status is EndpointStatus.UNDEPLOYED
    assert [(r.version, r.weight) for r in stopped.routes] == [(1, 100)]  # kept for the record

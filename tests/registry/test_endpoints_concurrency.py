"""Racing route changes on one endpoint: compare-and-set lets exactly one writer through per
revision, and writers that do not expect a revision are serialized, none lost."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session, sessionmaker

from registry.domain import Team
from registry.endpoints import Environment, set_routes
from registry.errors import ConflictError
from tests.registry.test_endpoints_support import change, create, get, history
from tests.registry.test_endpoints_support import sessions as sessions
from tests.registry.test_endpoints_support import team as team

RACERS = 6


def race(sessions: sessionmaker[Session], team: Team, expect: int | None) -> list[str]:
    barrier = threading.Barrier(RACERS)

    def one(canary: int) -> str:
        barrier.wait()
        try:
            with sessions.begin() as session:
                set_routes(session, team, change("e", {2: 100 - canary, 3: canary}, expect=expect))
        except ConflictError:
            return "conflict"
        return "won"

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(one, range(1, RACERS + 1)))


def test_writers_expecting_the_same_revision_let_exactly_one_through(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "e", Environment.STAGING, version=2)
    outcomes = race(sessions, team, expect=1)
    assert sorted(outcomes) == ["conflict"] * (RACERS - 1) + ["won"]
    with sessions() as session:
        assert get(session, team, "e").revision == 2
        assert len(history(session, team, "e")) == 2


def test_writers_without_an_expected_revision_are_serialized_and_none_is_lost(
    sessions: sessionmaker[Session], team: Team
) -> None:
    with sessions.begin() as session:
        create(session, team, "e", Environment.STAGING, version=2)
    assert race(sessions, team, expect=None) == ["won"] * RACERS
    with sessions() as session:
        entries = history(session, team, "e")
        assert get(session, team, "e").revision == RACERS + 1
    assert [entry.revision for entry in entries] == list(range(1, RACERS + 2))
    # Each change started from what the previous one left: the ledger chains without gaps.
    for earlier, later in itertools.pairwise(entries):
        assert later.before == earlier.after

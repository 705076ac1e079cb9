"""The gateway's budget guard on its own: it admits until the replica's claimed shares are
spent and the period grants no more, then refuses with a 429 naming the budget; a database
it cannot reach is a 503, never a false "spent"; a new period starts afresh."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import sessionmaker

from gateway.budget_guard import BudgetGuard
from gateway.errors import ApiError
from registry.database import Database, make_engine, make_session_factory
from registry.usage.budgets import BudgetRepository
from tests.usage.support import seed

T0 = datetime(2026, 11, 20, 23, 59, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _admitted(guard: BudgetGuard, team_id: int, model_id: int, cost: int) -> int:
    async def run() -> int:
        for served in range(100):
            try:
                await guard.admit(team_id, model_id)
            except ApiError as refused:
                assert refused.status == 429 and "budget 'daily' is spent" in refused.message
                return served
            guard.charge(team_id, model_id, cost)
        raise AssertionError("never refused")

    return asyncio.run(run())


def test_the_guard_admits_up_to_the_limit_then_refuses_until_the_next_period(
    pg_url: str,
) -> None:
    database = Database.open(pg_url)
    seeded = seed(database)
    with database.transaction() as session:
        BudgetRepository(session, seeded.team).set("daily", 1000, "day", "hard", None, "ann")
    engine = make_engine(pg_url)
    clock = Clock()
    guard = BudgetGuard(make_session_factory(engine), 3600, chunk_fraction=0.25, clock=clock)
    asyncio.run(guard.reload())
    # Shares of 250, claimed as they run out, until all 1000 are granted: requests of 120
    # are admitted while the share has anything left, so the 9th (960 spent before it)
    # is the last: 1080 spent, less than one request over the limit.
    served = _admitted(guard, seeded.team.id, seeded.model_id, 120)
    assert served == 9 and 1000 <= served * 120 <= 1000 + 120
    clock.now = T0 + timedelta(minutes=2)  # the next UTC day
    asyncio.run(guard.reload())
    assert _admitted(guard, seeded.team.id, seeded.model_id, 120) == 9
    engine.dispose()
    database.close()


def test_an_unreachable_database_is_a_503_not_a_spent_budget(pg_url: str) -> None:
    database = Database.open(pg_url)
    seeded = seed(database)
    with database.transaction() as session:
        BudgetRepository(session, seeded.team).set("daily", 1000, "day", "hard", None, "ann")
    engine = make_engine(pg_url)
    guard = BudgetGuard(make_session_factory(engine), 3600, clock=Clock())
    asyncio.run(guard.reload())
    gone = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    guard.sessions = sessionmaker(bind=gone)
    with pytest.raises(ApiError) as caught:
        asyncio.run(guard.admit(seeded.team.id, seeded.model_id))
    assert caught.value.status == 503 and caught.value.code == "database_unavailable"
    gone.dispose()
    engine.dispose()
    database.close()

"""Racing promotions: exactly one production holder, the losers refused cleanly."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from registry.database import make_engine, make_session_factory
from registry.stages import Stage
from registry.tables import LedgerEntryRow, ModelVersionRow
from tests.registry.concurrent_promoter import promote
from tests.registry.seed import add_version, advance, seed_model

RACERS = 8


def _seed_staging_versions(url: str) -> list[int]:
    engine = make_engine(url)
    with make_session_factory(engine).begin() as session:
        team = seed_model(session, "alpha")
        versions = [add_version(session, team) for _ in range(RACERS)]
        for version in versions:
            advance(session, team, version, Stage.STAGING)
    engine.dispose()
    return versions


def _assert_one_production_and_consistent_ledger(url: str, outcomes: list[str]) -> None:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        stages = Counter(session.scalars(select(ModelVersionRow.stage)))
        into_production = session.scalar(
            select(func.count())
            .select_from(LedgerEntryRow)
            .where(LedgerEntryRow.to_stage == Stage.PRODUCTION.value)
        )
    engine.dispose()
    wins = outcomes.count("won")
    assert stages[Stage.PRODUCTION.value] == 1
    assert wins >= 1 and set(outcomes) <= {"won", "conflict"}
    # Each winner wrote one production entry; a later winner archived the earlier one.
    assert into_production == wins
    assert stages[Stage.ARCHIVED.value] == wins - 1
    assert stages[Stage.STAGING.value] == RACERS - wins


@pytest.mark.parametrize("url_fixture", ["pg_url", "sqlite_url"])
def test_racing_threads_leave_exactly_one_production_version(
    url_fixture: str, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue(url_fixture))
    versions = _seed_staging_versions(url)
    barrier = threading.Barrier(RACERS)
    with ThreadPoolExecutor(RACERS) as pool:
        outcomes = list(pool.map(lambda v: promote(url, "alpha", v, barrier), versions))  # type: ignore[arg-type]
    _assert_one_production_and_consistent_ledger(url, outcomes)


def test_racing_processes_leave_exactly_one_production_version(pg_url: str) -> None:
    versions = _seed_staging_versions(pg_url)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(RACERS)
        with context.Pool(RACERS) as pool:
            outcomes = pool.starmap(promote, [(pg_url, "alpha", v, barrier) for v in versions])
    _assert_one_production_and_consistent_ledger(pg_url, outcomes)
    assert outcomes.count("conflict") >= 1, "with a barrier, at least one racer must lose"

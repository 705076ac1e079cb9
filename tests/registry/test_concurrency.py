"""Racing promotions and rollbacks: exactly one production holder, the losers refused cleanly."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from registry.database import make_engine, make_session_factory
from registry.domain import LedgerAction
from registry.stages import Stage
from registry.tables import LedgerEntryRow, ModelVersionRow
from tests.registry.concurrent_promoter import promote, roll_back
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


ROLLBACK_RACERS = 10


def _seed_production_history(url: str, versions: int) -> None:
    """v1 … vN each promoted in turn: vN in production, v1 … vN-1 archived, all good."""
    engine = make_engine(url)
    with make_session_factory(engine).begin() as session:
        team = seed_model(session, "alpha")
        for _ in range(versions):
            advance(session, team, add_version(session, team), Stage.PRODUCTION)
    engine.dispose()


def _production_and_rollbacks(url: str) -> tuple[list[int], int]:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        production = list(
            session.scalars(
                select(ModelVersionRow.version).where(
                    ModelVersionRow.stage == Stage.PRODUCTION.value
                )
            )
        )
        rollbacks = session.scalar(
            select(func.count())
            .select_from(LedgerEntryRow)
            .where(LedgerEntryRow.action == LedgerAction.ROLLBACK.value)
        )
    engine.dispose()
    return production, int(rollbacks or 0)


@pytest.mark.parametrize("url_fixture", ["pg_url", "sqlite_url"])
def test_racing_rollbacks_move_production_back_exactly_one_step(
    url_fixture: str, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue(url_fixture))
    _seed_production_history(url, versions=ROLLBACK_RACERS + 1)
    barrier = threading.Barrier(ROLLBACK_RACERS)
    with ThreadPoolExecutor(ROLLBACK_RACERS) as pool:
        outcomes = list(
            pool.map(lambda n: roll_back(url, "alpha", n, barrier), range(ROLLBACK_RACERS))  # type: ignore[arg-type]
        )
    assert sorted(outcomes) == ["conflict"] * (ROLLBACK_RACERS - 1) + ["won"]
    # v11 was in production; one step back is v10, not v1.
    assert _production_and_rollbacks(url) == ([ROLLBACK_RACERS], 1)


def test_racing_rollback_processes_move_production_back_exactly_one_step(pg_url: str) -> None:
    _seed_production_history(pg_url, versions=ROLLBACK_RACERS + 1)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(ROLLBACK_RACERS)
        with context.Pool(ROLLBACK_RACERS) as pool:
            outcomes = pool.starmap(
                roll_back, [(pg_url, "alpha", n, barrier) for n in range(ROLLBACK_RACERS)]
            )
    assert sorted(outcomes) == ["conflict"] * (ROLLBACK_RACERS - 1) + ["won"]
    assert _production_and_rollbacks(pg_url) == ([ROLLBACK_RACERS], 1)

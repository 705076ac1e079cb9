"""The ledger answers "what was in production at T" and drives rollback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from registry.database import make_engine, make_session_factory
from registry.errors import InvalidTransitionError
from registry.ledger import LedgerRepository
from registry.lifecycle import RollbackRequest, TransitionRequest, rollback, transition_stage
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tests.registry.seed import add_version, advance, seed_model


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    with make_session_factory(engine)() as s:
        yield s
    engine.dispose()


def _instant() -> datetime:
    return datetime.now(UTC)


def test_production_at_any_instant_across_promote_promote_rollback(session: Session) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        v1, v2 = add_version(session, team), add_version(session, team)
        advance(session, team, v2, Stage.STAGING)
    before_any = _instant()
    with session.begin():
        advance(session, team, v1, Stage.PRODUCTION)
    during_v1 = _instant()
    with session.begin():
        request = TransitionRequest(
            model="support-intent",
            version=v2,
            target=Stage.PRODUCTION,
            actor="ann",
            reason="better",
        )
        transition_stage(session, team, request)
    during_v2 = _instant()
    with session.begin():
        rollback(session, team, RollbackRequest(model="support-intent", actor="bob", reason="bad"))
    after_rollback = _instant()

    model = ModelRepository(session, team).row("support-intent")
    ledger = LedgerRepository(session, team)
    assert ledger.production_at(model, before_any) is None
    assert ledger.production_at(model, during_v1) == v1
    assert ledger.production_at(model, during_v2) == v2
    assert ledger.production_at(model, after_rollback) == v1
    assert ledger.production_at(model, after_rollback + timedelta(days=365)) == v1


def test_rollback_restores_the_last_good_version_and_skips_rolled_back_ones(
    session: Session,
) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        v1, v2, v3 = (add_version(session, team) for _ in range(3))
        for version in (v1, v2, v3):
            advance(session, team, version, Stage.PRODUCTION)
    with session.begin():
        result = rollback(
            session, team, RollbackRequest(model="support-intent", actor="a", reason="r")
        )
    assert (result.replaced, result.version.version) == (v3, v2)
    with session.begin():
        result = rollback(
            session, team, RollbackRequest(model="support-intent", actor="a", reason="r")
        )
    # v3 was rolled back from, so it is not "good": the next rollback goes to v1.
    assert (result.replaced, result.version.version) == (v2, v1)
    stages = {v.version: v.stage for v in ModelRepository(session, team).versions("support-intent")}
    assert stages == {v1: Stage.PRODUCTION, v2: Stage.ARCHIVED, v3: Stage.ARCHIVED}


def test_rollback_without_an_earlier_production_version_is_refused(session: Session) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        advance(session, team, add_version(session, team), Stage.PRODUCTION)
    with pytest.raises(InvalidTransitionError, match="no earlier production version"):
        with session.begin():
            rollback(session, team, RollbackRequest(model="support-intent", actor="a", reason="r"))


def test_ledger_entries_record_actor_reason_stages_and_flow_run(session: Session) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        version = add_version(session, team)
        request = TransitionRequest(
            model="support-intent",
            version=version,
            target=Stage.TESTING,
            actor="carol",
            reason="smoke tests passed",
            evidence={"accuracy": 0.91},
            flow_run_id="3f2a-run",
        )
        transition_stage(session, team, request)
    model = ModelRepository(session, team).row("support-intent")
    entry = LedgerRepository(session, team).history(model)[-1]
    assert (entry.actor, entry.reason, entry.from_stage, entry.to_stage) == (
        "carol",
        "smoke tests passed",
        Stage.DEVELOPMENT,
        Stage.TESTING,
    )
    assert entry.evidence == {"accuracy": 0.91}
    assert entry.flow_run_id == "3f2a-run"
    assert entry.at.tzinfo is not None


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE stage_ledger SET reason = 'rewritten'",
        "DELETE FROM stage_ledger",
        "TRUNCATE stage_ledger",
    ],
)
def test_postgresql_refuses_to_rewrite_the_ledger(pg_url: str, statement: str) -> None:
    engine = make_engine(pg_url)
    with make_session_factory(engine)() as session, session.begin():
        team = seed_model(session, "alpha")
        add_version(session, team)
    with pytest.raises(DBAPIError, match="stage_ledger is append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT reason FROM stage_ledger")).scalar_one() == "registered"
    engine.dispose()

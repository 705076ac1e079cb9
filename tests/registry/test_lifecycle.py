"""Stage machine behaviour through the lifecycle service, on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.approval_service import ReviewAnswer
from registry.database import make_engine, make_session_factory
from registry.domain import LedgerAction
from registry.errors import (
    ApprovalRequiredError,
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
)
from registry.ledger import LedgerRepository
from registry.lifecycle import RollbackRequest, TransitionRequest, rollback, transition_stage
from registry.model_repository import ModelRepository
from registry.stages import Stage
from registry.tables import LedgerEntryRow, ModelVersionRow
from tests.registry.seed import add_version, advance, seed_model


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    with make_session_factory(engine)() as s:
        yield s
    engine.dispose()


def _move(session: Session, team, version: int, to: Stage, **extra) -> None:  # type: ignore[no-untyped-def]
    request = TransitionRequest(
        model="support-intent", version=version, target=to, actor="ann", reason="test", **extra
    )
    transition_stage(session, team, request)


def test_versions_are_numbered_from_one_in_order(session: Session) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        numbers = [add_version(session, team) for _ in range(3)]
    assert numbers == [1, 2, 3]
    stages = [v.stage for v in ModelRepository(session, team).versions("support-intent")]
    assert stages == [Stage.DEVELOPMENT] * 3


def test_promoting_archives_the_previous_production_version_in_the_same_transaction(
    session: Session,
) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        first, second = add_version(session, team), add_version(session, team)
        advance(session, team, first, Stage.PRODUCTION)
        advance(session, team, second, Stage.STAGING)
    with session.begin():
        _move(session, team, second, Stage.PRODUCTION)
    stages = {v.version: v.stage for v in ModelRepository(session, team).versions("support-intent")}
    assert stages == {first: Stage.ARCHIVED, second: Stage.PRODUCTION}
    model = ModelRepository(session, team).row("support-intent")
    actions = [(e.version, e.action) for e in LedgerRepository(session, team).history(model)][-2:]
    assert actions == [(first, LedgerAction.REPLACED), (second, LedgerAction.TRANSITION)]


def test_a_transition_the_machine_lacks_is_refused_with_the_allowed_targets(
    session: Session,
) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        version = add_version(session, team)
    with pytest.raises(InvalidTransitionError) as caught, session.begin():
        _move(session, team, version, Stage.PRODUCTION)
    assert "cannot move from development to production" in str(caught.value)
    assert "allowed from development: archived, rejected, testing" in str(caught.value)


def test_production_cannot_be_rejected_only_archived(session: Session) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        version = add_version(session, team)
        advance(session, team, version, Stage.PRODUCTION)
    with pytest.raises(InvalidTransitionError, match="allowed from production: archived"):
        with session.begin():
            _move(session, team, version, Stage.REJECTED)


def test_rejected_is_reachable_from_every_stage_before_production(session: Session) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        versions = [add_version(session, team) for _ in range(3)]
        advance(session, team, versions[1], Stage.TESTING)
        advance(session, team, versions[2], Stage.STAGING)
        for version in versions:
            _move(session, team, version, Stage.REJECTED)
    stages = [v.stage for v in ModelRepository(session, team).versions("support-intent")]
    assert stages == [Stage.REJECTED] * 3


def test_expect_mismatch_is_a_conflict_and_changes_nothing(session: Session) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        version = add_version(session, team)
        advance(session, team, version, Stage.TESTING)
    with session.begin():
        ledger_before = session.scalar(select(func.count()).select_from(LedgerEntryRow))
    with pytest.raises(ConflictError, match="is in testing, not staging as expected"):
        with session.begin():
            _move(session, team, version, Stage.PRODUCTION, expect=Stage.STAGING)
    assert ModelRepository(session, team).version("support-intent", version).stage is Stage.TESTING
    assert session.scalar(select(func.count()).select_from(LedgerEntryRow)) == ledger_before


def test_a_stage_whose_policy_names_approvers_points_to_the_promote_flow(session: Session) -> None:
    policy = {"production": {"approvers": ["alice", "bob"], "min_approvals": 1}}
    with session.begin():
        team = seed_model(session, "alpha", policy=policy)
        version = add_version(session, team)
        advance(session, team, version, Stage.STAGING)
    with pytest.raises(ApprovalRequiredError) as caught, session.begin():
        _move(session, team, version, Stage.PRODUCTION)
    assert "needs approval by alice, bob" in str(caught.value)
    assert "modelops run promote" in str(caught.value)
    assert ModelRepository(session, team).version("support-intent", version).stage is Stage.STAGING


def test_the_database_refuses_a_second_production_version(session: Session) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        first, second = add_version(session, team), add_version(session, team)
        advance(session, team, first, Stage.PRODUCTION)
    # Bypass the service: the partial unique index alone must hold the line.
    with pytest.raises(IntegrityError, match=r"(?i)unique"), session.begin():
        row = session.scalar(select(ModelVersionRow).where(ModelVersionRow.version == second))
        assert row is not None
        row.stage = Stage.PRODUCTION.value
        session.flush()


def test_unknown_model_and_version_name_what_exists(session: Session) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        add_version(session, team)
    repo = ModelRepository(session, team)
    with pytest.raises(NotFoundError, match="known models: support-intent"):
        repo.get("nope")
    with pytest.raises(NotFoundError, match="has no version 9"):
        repo.version("support-intent", 9)


def test_a_rollback_expecting_another_production_version_changes_nothing(
    session: Session,
) -> None:
    with session.begin():
        team = seed_model(session, "alpha")
        for _ in range(3):
            advance(session, team, add_version(session, team), Stage.PRODUCTION)
        ledger_before = session.scalar(select(func.count()).select_from(LedgerEntryRow))
    request = RollbackRequest(model="support-intent", actor="ann", reason="errors", expect=2)
    with pytest.raises(ConflictError) as caught, session.begin():
        rollback(session, team, request)
    assert str(caught.value) == (
        "rolling back support-intent: production is v3, not v2 as expected; nothing changed"
    )
    with session.begin():
        production = ModelRepository(session, team).production("support-intent")
        assert production is not None and production.version == 3
        assert session.scalar(select(func.count()).select_from(LedgerEntryRow)) == ledger_before
    with session.begin():
        done = rollback(session, team, request.model_copy(update={"expect": 3}))
    assert (done.replaced, done.version.version) == (3, 2)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"actor": "ann\x1b[2J"}, "actor"),
        ({"reason": "fine\x1b]0;owned\x07"}, "reason"),
        ({"reason": "two\nlines"}, "reason"),
        ({"model": "support-intent\x00"}, "model"),
        ({"flow_run_id": "\u202erun"}, "flow_run_id"),
    ],
)
def test_requests_refuse_control_characters_naming_the_field(
    fields: dict[str, str], field: str
) -> None:
    base = {"model": "support-intent", "actor": "ann", "reason": "why"}
    for request_type, extra in [
        (RollbackRequest, {}),
        (TransitionRequest, {"version": 1, "target": Stage.TESTING}),
    ]:
        with pytest.raises(ValidationError) as caught:
            request_type.model_validate({**base, **extra, **fields})
        (problem,) = caught.value.errors()
        assert problem["loc"] == (field,)
        assert "control character" in problem["msg"]


def test_review_answers_refuse_control_characters_in_reviewer_and_comment() -> None:
    with pytest.raises(ValidationError, match="control character"):
        ReviewAnswer(approve=True, reviewer="bob", comment="ok\x1b[2J")
    with pytest.raises(ValidationError, match="control character"):
        ReviewAnswer(approve=True, reviewer="b\x1bob")
    assert ReviewAnswer(approve=True, reviewer="bob", comment="fine, ünïcode").comment

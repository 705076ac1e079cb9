"""Who may approve: listed approvers, four eyes, N distinct approvals, expiry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from registry.approval_service import ReviewAnswer, apply_review, expire
from registry.approvals import ApprovalRepository
from registry.database import make_engine, make_session_factory
from registry.domain import ApprovalStatus, StagePolicy, Team
from registry.errors import ConflictError
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tests.registry.seed import add_version, advance, seed_model

POLICY = StagePolicy(approvers=["alice", "bob", "carol"], min_approvals=2, four_eyes=True)


@pytest.fixture
def opened(pg_url: str) -> Iterator[tuple[Session, Team, int]]:
    engine = make_engine(pg_url)
    with make_session_factory(engine)() as session:
        with session.begin():
            team = seed_model(session, "alpha")
            version = add_version(session, team)
            advance(session, team, version, Stage.STAGING)
            row = ModelRepository(session, team).version_row("support-intent", version)
            approval = ApprovalRepository(session, team).open(
                row, target=Stage.PRODUCTION, requester="alice", policy=POLICY
            )
        yield session, team, approval.id
    engine.dispose()


def _review(session: Session, team: Team, approval_id: int, reviewer: str, approve: bool = True):  # type: ignore[no-untyped-def]
    with session.begin():
        return apply_review(
            session, team, approval_id, ReviewAnswer(approve=approve, reviewer=reviewer)
        )


def test_two_distinct_approvers_are_needed_and_the_requester_does_not_count(opened) -> None:  # type: ignore[no-untyped-def]
    session, team, approval_id = opened
    refused = _review(session, team, approval_id, "alice")
    assert not refused.accepted and "four-eyes" in refused.reason
    first = _review(session, team, approval_id, "bob")
    assert first.accepted and not first.settled and first.reason == "1 of 2 approvals so far"
    again = _review(session, team, approval_id, "bob")
    assert not again.accepted and "already answered" in again.reason
    outsider = _review(session, team, approval_id, "mallory")
    assert not outsider.accepted and "approvers: alice, bob, carol" in outsider.reason
    second = _review(session, team, approval_id, "carol")
    assert second.settled and second.approval.status is ApprovalStatus.APPROVED
    assert [d.reviewer for d in second.approval.decisions] == ["bob", "carol"]


def test_one_rejection_settles_the_approval_as_rejected(opened) -> None:  # type: ignore[no-untyped-def]
    session, team, approval_id = opened
    outcome = _review(session, team, approval_id, "carol", approve=False)
    assert outcome.settled and outcome.approval.status is ApprovalStatus.REJECTED
    late = _review(session, team, approval_id, "bob")
    assert not late.accepted and "already rejected" in late.reason


def test_expiry_settles_a_pending_approval_once(opened) -> None:  # type: ignore[no-untyped-def]
    session, team, approval_id = opened
    with session.begin():
        assert expire(session, team, approval_id).status is ApprovalStatus.EXPIRED
    with pytest.raises(ConflictError, match="no longer pending"), session.begin():
        expire(session, team, approval_id)

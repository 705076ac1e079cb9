"""Who may approve: proven reviewers, listed approvers, four eyes, N distinct approvals,
refused attempts kept, expiry, and whether a pending approval can still be answered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from registry.approval_liveness import STALE_AFTER, unanswerable_reason
from registry.approval_service import ReviewAnswer, ReviewOutcome, apply_review, expire
from registry.approvals import ApprovalRepository
from registry.approvers.repository import ApproverRepository
from registry.database import make_engine, make_session_factory
from registry.domain import ApprovalStatus, StagePolicy, Team
from registry.errors import ConflictError
from registry.model_repository import ModelRepository
from registry.stages import Stage
from tests.registry.seed import add_version, advance, seed_model
from tests.support.approvers import code, enrol, ring

POLICY = StagePolicy(approvers=["alice", "bob", "carol"], min_approvals=2, four_eyes=True)
NOW = datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC)


@pytest.fixture
def opened(db_url: str) -> Iterator[tuple[Session, Team, int, dict[str, str]]]:
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        with session.begin():
            team = seed_model(session, "alpha")
            version = add_version(session, team)
            advance(session, team, version, Stage.STAGING)
            row = ModelRepository(session, team).version_row("support-intent", version)
            approval = ApprovalRepository(session, team).open(
                row,
                target=Stage.PRODUCTION,
                requester="alice",
                policy=POLICY,
                runner=("host-a", 4242),
            )
            secrets = enrol(session, team, "alice", "bob", "carol")
        yield session, team, approval.id, secrets
    engine.dispose()


def _review(
    opened, reviewer: str, *, approve: bool = True, secret_of: str | None = None, at: datetime = NOW
) -> ReviewOutcome:  # type: ignore[no-untyped-def]
    session, team, approval_id, secrets = opened
    answer = ReviewAnswer(
        approve=approve,
        reviewer=reviewer,
        code=code(secrets[secret_of or reviewer], at)
        if (secret_of or reviewer) in secrets
        else "000000",
    )
    approvers = ApproverRepository(session, team, ring(), clock=lambda: at)
    with session.begin():
        return apply_review(session, team, approval_id, answer, approvers)


def test_two_distinct_proven_approvers_are_needed_and_the_requester_does_not_count(opened) -> None:  # type: ignore[no-untyped-def]
    refused = _review(opened, "alice")
    assert not refused.accepted and "four-eyes" in refused.reason
    first = _review(opened, "bob")
    assert first.accepted and not first.settled and first.reason == "1 of 2 approvals so far"
    again = _review(opened, "bob", at=NOW + timedelta(seconds=30))
    assert not again.accepted and "already answered" in again.reason
    outsider = _review(opened, "mallory")
    assert not outsider.accepted and "approvers: alice, bob, carol" in outsider.reason
    impostor = _review(opened, "carol", secret_of="bob", at=NOW + timedelta(seconds=60))
    assert not impostor.accepted and impostor.reason == "wrong or out-of-date code for 'carol'"
    second = _review(opened, "carol")
    assert second.settled and second.approval.status is ApprovalStatus.APPROVED
    assert [d.reviewer for d in second.approval.decisions] == ["bob", "carol"]


def test_every_refused_answer_is_kept_with_who_when_and_why_but_never_the_code(opened) -> None:  # type: ignore[no-untyped-def]
    secrets = opened[3]
    _review(opened, "alice")
    _review(opened, "carol", secret_of="bob")
    accepted = _review(opened, "bob")
    attempts = accepted.approval.attempts
    assert [(a.reviewer, a.decision) for a in attempts] == [
        ("alice", ApprovalStatus.APPROVED),
        ("carol", ApprovalStatus.APPROVED),
    ]
    assert "four-eyes" in attempts[0].reason and "wrong or out-of-date" in attempts[1].reason
    codes = {code(secret, NOW) for secret in secrets.values()}
    assert not any(c in a.reason for a in attempts for c in codes)


def test_a_code_sent_with_a_refused_answer_is_used_up(opened) -> None:  # type: ignore[no-untyped-def]
    """The requester's code reached the run's input; it must not count on a later answer."""
    refused = _review(opened, "alice")
    assert "four-eyes" in refused.reason
    session, team, _, secrets = opened
    with session.begin():
        proof = ApproverRepository(session, team, ring(), clock=lambda: NOW).prove(
            "alice", code(secrets["alice"], NOW)
        )
    assert proof.refusal == "that code of 'alice' was already used; wait for the next one"


def test_one_rejection_settles_the_approval_as_rejected(opened) -> None:  # type: ignore[no-untyped-def]
    outcome = _review(opened, "carol", approve=False)
    assert outcome.settled and outcome.approval.status is ApprovalStatus.REJECTED
    late = _review(opened, "bob")
    assert not late.accepted and "already rejected" in late.reason


def test_expiry_settles_a_pending_approval_once(opened) -> None:  # type: ignore[no-untyped-def]
    session, team, approval_id, _ = opened
    with session.begin():
        assert expire(session, team, approval_id).status is ApprovalStatus.EXPIRED
    with pytest.raises(ConflictError, match="no longer pending"), session.begin():
        expire(session, team, approval_id)


def test_the_heartbeat_moves_while_pending_and_stops_once_settled(opened) -> None:  # type: ignore[no-untyped-def]
    session, team, approval_id, _ = opened
    approvals = ApprovalRepository(session, team)
    with session.begin():
        assert approvals.heartbeat(approval_id, NOW)
        assert approvals.get(approval_id).runner.heartbeat_at == NOW  # type: ignore[union-attr]
        expire(session, team, approval_id)
        assert not approvals.heartbeat(approval_id, NOW + timedelta(seconds=5))


def test_a_pending_approval_is_unanswerable_when_its_run_is_dead_silent_or_late(opened) -> None:  # type: ignore[no-untyped-def]
    session, team, approval_id, _ = opened
    with session.begin():
        approvals = ApprovalRepository(session, team)
        approvals.heartbeat(approval_id, NOW)
        approval = approvals.get(approval_id)
    alive, dead = (lambda pid: True), (lambda pid: False)
    assert unanswerable_reason(approval, NOW, host="host-a", alive=alive) is None
    gone = unanswerable_reason(approval, NOW, host="host-a", alive=dead)
    assert gone == "the promote run waiting for it is dead (process 4242 on host-a is gone)"
    # On another host the pid means nothing: only the heartbeat can tell.
    assert unanswerable_reason(approval, NOW, host="host-b", alive=dead) is None
    silent = NOW + STALE_AFTER + timedelta(seconds=1)
    assert "has not checked in for 31 s" in (
        unanswerable_reason(approval, silent, host="host-b", alive=alive) or ""
    )
    late = approval.model_copy(update={"expires_at": NOW})
    assert "expired at" in (unanswerable_reason(late, NOW, host="host-a", alive=alive) or "")

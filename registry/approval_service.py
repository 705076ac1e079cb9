"""Deciding approvals: proven reviewers, who may approve, four eyes, N distinct approvals,
refused attempts kept, expiry."""

from __future__ import annotations

from pydantic import Field
from sqlalchemy.orm import Session

from registry.approvals import ApprovalRepository
from registry.approvers.repository import ApproverRepository
from registry.domain import Approval, ApprovalStatus, Frozen, Team
from registry.text import Comment, PersonName


class ReviewAnswer(Frozen):
    """One reviewer's answer, as the Prefect form or `modelops approvals` gives it."""

    approve: bool
    reviewer: PersonName
    # Checked (and used up) against the reviewer's enrolment; a malformed code is refused there.
    code: str = Field(default="", max_length=32, repr=False)
    comment: Comment = ""

    @property
    def decision(self) -> ApprovalStatus:
        return ApprovalStatus.APPROVED if self.approve else ApprovalStatus.REJECTED


class ReviewOutcome(Frozen):
    """What an answer did: `accepted` False means it was refused, with `reason`."""

    accepted: bool
    reason: str
    approval: Approval

    @property
    def settled(self) -> bool:
        return self.approval.status is not ApprovalStatus.PENDING


def apply_review(
    session: Session,
    team: Team,
    approval_id: int,
    answer: ReviewAnswer,
    approvers: ApproverRepository,
) -> ReviewOutcome:
    """Prove the reviewer, validate and record one answer; settle the approval when decided.

    The code is checked (and used up) before any other rule, so a code that reached the
    run's input can never count again, whatever else was wrong with the answer.
    """
    approvals = ApprovalRepository(session, team)
    approval = approvals.get(approval_id)
    proof = approvers.prove(answer.reviewer, answer.code, approval_id=approval_id)
    refusal = refusal_reason(approval, answer.reviewer, identity_refusal=proof.refusal)
    if refusal is not None:
        approvals.record_attempt(
            approval_id, reviewer=answer.reviewer, decision=answer.decision, reason=refusal
        )
        session.flush()
        return ReviewOutcome(accepted=False, reason=refusal, approval=approvals.get(approval_id))
    approvals.record_decision(
        approval_id,
        reviewer=answer.reviewer,
        decision=answer.decision,
        comment=answer.comment,
        enrolment_id=proof.enrolment_id,
    )
    reason = _settle_if_decided(approvals, approval, answer)
    session.flush()
    return ReviewOutcome(accepted=True, reason=reason, approval=approvals.get(approval_id))


def _settle_if_decided(
    approvals: ApprovalRepository, approval: Approval, answer: ReviewAnswer
) -> str:
    if answer.decision is ApprovalStatus.REJECTED:
        approvals.settle(approval.id, ApprovalStatus.REJECTED)
        return f"rejected by {answer.reviewer}"
    approved_by = {
        d.reviewer
        for d in approvals.get(approval.id).decisions
        if d.decision is ApprovalStatus.APPROVED
    }
    if len(approved_by) >= approval.min_approvals:
        approvals.settle(approval.id, ApprovalStatus.APPROVED)
        return f"approved by {', '.join(sorted(approved_by))}"
    return f"{len(approved_by)} of {approval.min_approvals} approvals so far"


def refusal_reason(
    approval: Approval, reviewer: str, *, identity_refusal: str | None = None
) -> str | None:
    """Why this reviewer's answer cannot count, or None if it can."""
    if approval.status is not ApprovalStatus.PENDING:
        return f"approval {approval.id} is already {approval.status}"
    if approval.approvers and reviewer not in approval.approvers:
        return f"{reviewer!r} is not an approver; approvers: {', '.join(approval.approvers)}"
    if identity_refusal is not None:
        return identity_refusal
    if approval.four_eyes and reviewer == approval.requester:
        return f"four-eyes policy: {reviewer!r} requested this promotion and cannot approve it"
    if any(d.reviewer == reviewer for d in approval.decisions):
        return f"{reviewer!r} has already answered; another approver is needed"
    return None


def expire(session: Session, team: Team, approval_id: int) -> Approval:
    """Mark a pending approval expired (nobody answered in time); changes nothing else."""
    approvals = ApprovalRepository(session, team)
    approvals.settle(approval_id, ApprovalStatus.EXPIRED)
    return approvals.get(approval_id)

"""Deciding approvals: who may approve, four eyes, N distinct approvals, expiry."""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.approvals import ApprovalRepository
from registry.domain import Approval, ApprovalStatus, Frozen, Team
from registry.text import Comment, PersonName


class ReviewAnswer(Frozen):
    """One reviewer's answer, as the Prefect form or `modelops approvals` gives it."""

    approve: bool
    reviewer: PersonName
    comment: Comment = ""


class ReviewOutcome(Frozen):
    """What an answer did: `accepted` False means it was refused, with `reason`."""

    accepted: bool
    reason: str
    approval: Approval

    @property
    def settled(self) -> bool:
        return self.approval.status is not ApprovalStatus.PENDING


def apply_review(
    session: Session, team: Team, approval_id: int, answer: ReviewAnswer
) -> ReviewOutcome:
    """Validate and record one answer; settle the approval when it is decided."""
    approvals = ApprovalRepository(session, team)
    approval = approvals.get(approval_id)
    refusal = refusal_reason(approval, answer)
    if refusal is not None:
        return ReviewOutcome(accepted=False, reason=refusal, approval=approval)
    decision = ApprovalStatus.APPROVED if answer.approve else ApprovalStatus.REJECTED
    approvals.record_decision(
        approval_id, reviewer=answer.reviewer, decision=decision, comment=answer.comment
    )
    if decision is ApprovalStatus.REJECTED:
        approvals.settle(approval_id, ApprovalStatus.REJECTED)
        reason = f"rejected by {answer.reviewer}"
    else:
        approved_by = {
            d.reviewer
            for d in approvals.get(approval_id).decisions
            if d.decision is ApprovalStatus.APPROVED
        }
        if len(approved_by) >= approval.min_approvals:
            approvals.settle(approval_id, ApprovalStatus.APPROVED)
            reason = f"approved by {', '.join(sorted(approved_by))}"
        else:
            reason = f"{len(approved_by)} of {approval.min_approvals} approvals so far"
    session.flush()
    return ReviewOutcome(accepted=True, reason=reason, approval=approvals.get(approval_id))


def refusal_reason(approval: Approval, answer: ReviewAnswer) -> str | None:
    """Why this answer cannot count, or None if it can."""
    if approval.status is not ApprovalStatus.PENDING:
        return f"approval {approval.id} is already {approval.status}"
    if approval.approvers and answer.reviewer not in approval.approvers:
        return f"{answer.reviewer!r} is not an approver; approvers: {', '.join(approval.approvers)}"
    if approval.four_eyes and answer.reviewer == approval.requester:
        return (
            f"four-eyes policy: {answer.reviewer!r} requested this promotion and cannot approve it"
        )
    if any(d.reviewer == answer.reviewer for d in approval.decisions):
        return f"{answer.reviewer!r} has already answered; another approver is needed"
    return None


def expire(session: Session, team: Team, approval_id: int) -> Approval:
    """Mark a pending approval expired (nobody answered in time); changes nothing else."""
    approvals = ApprovalRepository(session, team)
    approvals.settle(approval_id, ApprovalStatus.EXPIRED)
    return approvals.get(approval_id)

"""promote: check the gates, ask the approvers in the Prefect UI, then move the stage."""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run
from pydantic import ValidationError

from flows.params import PromoteParams
from flows.review_form import Decision, ReviewForm, review_markdown
from registry.approval_service import ReviewAnswer
from registry.domain import Approval, ApprovalStatus, Frozen
from registry.lifecycle import TransitionRequest
from tasks.approval_watch import heartbeat
from tasks.context import current_flow_run_id
from tasks.promotion import (
    PromotionEvidence,
    expire_approval,
    gather_evidence,
    move_stage,
    open_approval,
    record_review,
)
from tasks.promotion_report import publish_decision

# How often a paused run asks the API whether it was resumed.
POLL_SECONDS = 2


class PromotionRefused(Exception):
    """The promotion did not happen: a gate failed, a reviewer rejected it, or nobody answered."""


class PromoteOutcome(Frozen):
    model: str
    version: int
    stage: str
    approval_id: int | None
    approved_by: list[str]
    replaced: int | None


class Settled(Frozen):
    """How the wait for answers ended: the approval, no longer pending, and why."""

    approval: Approval
    reason: str


@flow(
    name="promote",
    flow_run_name="promote-{params.model}-v{params.version}",
    description="Gates → approval in the Prefect UI (reviewers prove who they are with a "
    "one-time code) → compare-and-set stage move.",
)
async def promote(params: PromoteParams) -> PromoteOutcome:
    logger = get_run_logger()
    evidence = gather_evidence(params.model, params.version, params.stage.stage)
    if not evidence.gates_pass:
        raise PromotionRefused(
            f"gates for {params.stage} failed: {'; '.join(evidence.gate_failures)}"
        )
    approval = None
    if evidence.policy.approvers:
        approval = open_approval(
            evidence, params.requester, current_flow_run_id(), params.timeout_seconds
        )
        logger.info(
            "approval #%s opened; waiting for %s", approval.id, ", ".join(approval.approvers)
        )
        async with heartbeat(approval.id):
            settled = await wait_for_decision(evidence, approval, params.timeout_seconds)
        approval = settled.approval
        if approval.status is not ApprovalStatus.APPROVED:
            message = f"approval #{approval.id} {settled.reason}; nothing changed"
            # .fn: once the pause timed out the run is failing and refuses new task runs.
            await publish_decision.fn(evidence, approval, message)
            raise PromotionRefused(message)
    moved = move_stage(_transition(params, evidence, approval))
    approved_by = _approved_by(approval)
    replaced = f"; v{moved.replaced} archived" if moved.replaced else ""
    by = ", ".join(approved_by) or "nobody: the policy needs no approval"
    summary = (
        f"{params.model} v{params.version} moved {moved.from_stage} -> {moved.version.stage}"
        f"{replaced}; approved by {by}"
    )
    if approval is not None:
        await publish_decision(evidence, approval, summary)
    logger.info("NOTIFY %s", summary)  # the notification hook: a log line today
    return PromoteOutcome(
        model=params.model,
        version=params.version,
        stage=moved.version.stage.value,
        approval_id=approval.id if approval else None,
        approved_by=approved_by,
        replaced=moved.replaced,
    )


async def wait_for_decision(
    evidence: PromotionEvidence, approval: Approval, timeout: int
) -> Settled:
    """Pause until the approval is settled; a refused answer re-pauses with the reason shown."""
    logger = get_run_logger()
    deadline = time.monotonic() + timeout
    note = ""
    while True:
        form = ReviewForm.with_initial_data(description=review_markdown(evidence, approval, note))
        remaining = max(1, int(deadline - time.monotonic()))
        try:
            answer = await apause_flow_run(
                wait_for_input=form, timeout=remaining, poll_interval=min(POLL_SECONDS, timeout)
            )
        except FlowPauseTimeout:
            expired = expire_approval.fn(approval.id)
            return Settled(approval=expired, reason=f"expired: nobody answered within {timeout}s")
        try:
            review = ReviewAnswer(
                approve=answer.decision is Decision.APPROVE,
                reviewer=answer.reviewer.strip(),
                code=answer.code,
                comment=answer.comment,
            )
        except ValidationError:
            note = "Answer refused: the reviewer field is required."
            logger.warning("approval #%s: %s", approval.id, note)
            continue
        outcome = record_review(approval.id, review)
        approval = outcome.approval
        if not outcome.accepted:
            note = f"Answer refused: {outcome.reason}"
            logger.warning(
                "approval #%s: answer as %r refused: %s",
                approval.id,
                review.reviewer,
                outcome.reason,
            )
        else:
            note = outcome.reason
            logger.info("approval #%s: %s (%s)", approval.id, review.reviewer, outcome.reason)
        if outcome.settled:
            return Settled(approval=approval, reason=outcome.reason)


def _approved_by(approval: Approval | None) -> list[str]:
    if approval is None:
        return []
    return [d.reviewer for d in approval.decisions if d.decision is ApprovalStatus.APPROVED]


def _transition(
    params: PromoteParams, evidence: PromotionEvidence, approval: Approval | None
) -> TransitionRequest:
    decisions = approval.decisions if approval else []
    return TransitionRequest(
        model=params.model,
        version=params.version,
        target=params.stage.stage,
        actor=params.requester,
        reason=params.reason,
        expect=evidence.version.stage,
        evidence={
            "evaluation": evidence.evaluation.model_dump() if evidence.evaluation else None,
            "gates": {verdict.gate: verdict.as_json() for verdict in evidence.gates},
            "champion": evidence.champion,
            "approval_id": approval.id if approval else None,
            "approved_by": _approved_by(approval),
            "decisions": [
                {
                    "reviewer": d.reviewer,
                    "decision": d.decision.value,
                    "comment": d.comment,
                    "at": d.at.isoformat(),
                    "proven_by": "one-time code",
                }
                for d in decisions
            ],
        },
        flow_run_id=current_flow_run_id(),
        approval_id=approval.id if approval else None,
    )

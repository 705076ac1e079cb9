"""promote: check the gates, ask the approvers in the Prefect UI, then move the stage."""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run
from pydantic import ValidationError

from flows.params import PromoteParams
from flows.review_form import Decision, ReviewForm, review_markdown
from registry.approval_service import ReviewAnswer, ReviewOutcome
from registry.domain import Approval, ApprovalStatus, Frozen
from registry.lifecycle import TransitionRequest
from tasks.context import current_flow_run_id
from tasks.promotion import (
    PromotionEvidence,
    expire_approval,
    gather_evidence,
    move_stage,
    open_approval,
    record_review,
)

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


@flow(
    name="promote", description="Gates → approval in the Prefect UI → compare-and-set stage move."
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
        approval = open_approval(evidence, params.requester, current_flow_run_id())
        logger.info(
            "approval #%s opened; waiting for %s", approval.id, ", ".join(approval.approvers)
        )
        decided = await wait_for_decision(evidence, approval, params.timeout_seconds)
        if decided.approval.status is not ApprovalStatus.APPROVED:
            raise PromotionRefused(f"approval #{approval.id} {decided.reason}")
        approval = decided.approval
    moved = move_stage(_transition(params, evidence, approval))
    approved_by = [d.reviewer for d in approval.decisions] if approval else []
    # The notification hook: a log line today, alert channels later.
    approvers = ", ".join(approved_by) or "nobody: the policy needs no approval"
    logger.info(
        "NOTIFY %s v%s is now %s (approved by %s)",
        params.model,
        params.version,
        params.stage,
        approvers,
    )
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
) -> ReviewOutcome:
    """Pause until the approval is settled; invalid answers re-pause with the reason shown."""
    deadline = time.monotonic() + timeout
    note = ""
    while True:
        form = ReviewForm.with_initial_data(description=review_markdown(evidence, approval, note))
        remaining = max(1, int(deadline - time.monotonic()))
        try:
            answer = await apause_flow_run(
                wait_for_input=form, timeout=remaining, poll_interval=POLL_SECONDS
            )
        except FlowPauseTimeout:
            # Task runs may be refused once the run is failing: record the expiry directly.
            expire_approval.fn(approval.id)
            message = f"approval #{approval.id} expired: nobody answered within {timeout}s"
            raise PromotionRefused(f"{message}; nothing changed") from None
        try:
            review = ReviewAnswer(
                approve=answer.decision is Decision.APPROVE,
                reviewer=answer.reviewer.strip(),
                comment=answer.comment,
            )
        except ValidationError:
            note = "Answer refused: the reviewer field is required."
            continue
        outcome = record_review(approval.id, review)
        if outcome.accepted and outcome.settled:
            return outcome
        note = outcome.reason if outcome.accepted else f"Answer refused: {outcome.reason}"
        approval = outcome.approval


def _transition(
    params: PromoteParams, evidence: PromotionEvidence, approval: Approval | None
) -> TransitionRequest:
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
            "approved_by": [d.reviewer for d in approval.decisions] if approval else [],
        },
        flow_run_id=current_flow_run_id(),
        approval_id=approval.id if approval else None,
    )

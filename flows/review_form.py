"""The approval form shown in the Prefect UI, and the evidence rendered above it."""

from __future__ import annotations

from enum import StrEnum

from prefect.input import RunInput
from pydantic import Field

from registry.domain import Approval
from tasks.promotion import PromotionEvidence
from tasks.promotion_report import attempts_table, evidence_table, markdown_cell


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ReviewForm(RunInput):
    """What a reviewer answers; `modelops approvals approve|reject` sends the same fields.

    Every field but the comment is required and has no default, so the UI shows no
    pre-filled answer and the API refuses an answer that leaves one out.
    """

    decision: Decision = Field(description="Approve or reject.")
    reviewer: str = Field(
        min_length=1, max_length=128, description="Your name, as listed in the model's policy."
    )
    code: str = Field(
        pattern=r"^[0-9]{6}$",
        description="The six-digit code your authenticator app shows now (each works once).",
    )
    comment: str = Field(default="", max_length=2000, description="Why (kept in the ledger).")


def review_markdown(evidence: PromotionEvidence, approval: Approval, note: str = "") -> str:
    """The evidence a reviewer needs, as Markdown above the form."""
    version = evidence.version
    approvers = markdown_cell(", ".join(approval.approvers) or "anyone")
    lines = [
        f"## Promote **{evidence.model}** v{version.version} to **{evidence.target}**?",
        "",
        f"Approval #{approval.id}, requested by **{markdown_cell(approval.requester)}**. "
        f"Approvers: {approvers}; {approval.min_approvals} needed"
        + ("; the requester may not approve (four eyes)." if approval.four_eyes else "."),
        "Prove who you are with the code of your authenticator app "
        "(enrol once with `modelops approvers enroll NAME`).",
    ]
    if note:
        lines += ["", f"> **{markdown_cell(note)}**"]
    lines += ["", *evidence_table(evidence)]
    if approval.attempts:
        lines += ["", "#### Refused answers", "", *attempts_table(approval)]
    return "\n".join(lines)

"""The approval form shown in the Prefect UI, and the evidence rendered above it."""

from __future__ import annotations

from enum import StrEnum

from prefect.input import RunInput
from pydantic import Field

from registry.domain import Approval
from tasks.promotion import PromotionEvidence


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ReviewForm(RunInput):
    """What a reviewer answers; `modelops approvals approve|reject` sends the same fields."""

    decision: Decision = Field(default=Decision.REJECT, description="Approve or reject.")
    reviewer: str = Field(default="", description="Your name, as listed in the model's policy.")
    comment: str = Field(default="", description="Why (kept in the ledger).")


def review_markdown(evidence: PromotionEvidence, approval: Approval, note: str = "") -> str:
    """The evidence a reviewer needs, as Markdown above the form."""
    version = evidence.version
    lines = [
        f"## Promote **{evidence.model}** v{version.version} to **{evidence.target}**?",
        "",
        f"Approval #{approval.id}, requested by **{approval.requester}**. "
        f"Approvers: {', '.join(approval.approvers) or 'anyone'}; "
        f"{approval.min_approvals} needed"
        + ("; the requester may not approve (four eyes)." if approval.four_eyes else "."),
    ]
    if note:
        lines += ["", f"> **{note}**"]
    lines += ["", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in _evidence_rows(evidence)]
    return "\n".join(lines)


def _evidence_rows(evidence: PromotionEvidence) -> list[tuple[str, str]]:
    version, evaluation, lineage = evidence.version, evidence.evaluation, evidence.version.lineage
    champion = f"v{evidence.champion}" if evidence.champion else "none"
    rows = [
        ("current stage", str(version.stage)),
        ("champion (production)", champion),
        ("provider model id", version.provider_model_id),
        ("parent version", f"v{lineage.parent_version}" if lineage.parent_version else "none"),
        (
            "dataset",
            f"{lineage.dataset_uri or '-'} (sha256 {(lineage.dataset_sha256 or '-')[:12]})",
        ),
    ]
    if evaluation is None:
        rows.append(("evaluation", "none"))
    else:
        interval = f"[{evaluation.accuracy_low:.3f}, {evaluation.accuracy_high:.3f}]"
        rows += [
            (
                "evaluation",
                f"#{evaluation.id} on {evaluation.dataset}, {evaluation.examples} examples",
            ),
            ("accuracy (95% Wilson)", f"{evaluation.accuracy:.3f} {interval}"),
            ("latency p95", f"{evaluation.latency_p95_ms:.1f} ms"),
            ("vs champion", evaluation.versus_champion),
        ]
    rows += [
        (f"gate {v.gate}", f"{'pass' if v.passed else 'FAIL'}: {v.reason}") for v in evidence.gates
    ]
    if not evidence.gates:
        rows.append(("gates", "none set for this stage"))
    return rows

"""The promotion as people read it in the Prefect UI: the evidence table shown above the
review form, and the markdown artifact of the decision a finished run publishes."""

from __future__ import annotations

import re
from collections.abc import Sequence

from prefect import task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from registry.domain import Approval
from tasks.promotion import PromotionEvidence

# Long unbroken values (URIs, ids, digests) get break opportunities so table cells wrap.
ZERO_WIDTH_SPACE = "\u200b"
WRAP_AT = 32
_BREAK_AFTER = frozenset("/_-.:,=&?@")
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|<>#])")


def decision_key(model: str, version: int) -> str:
    """Artifact key; model names are already lowercase letters, digits and '-'."""
    return f"promote-{model}-v{version}"


def markdown_cell(value: object) -> str:
    """Text from the database, fit for a table cell: one line, escaped, wrappable."""
    text = "".join(char if char.isprintable() else " " for char in str(value))
    return " ".join(_breakable(word) for word in text.split(" "))


def _breakable(word: str) -> str:
    out: list[str] = []
    run = 0
    for char in word:
        out.append(_MARKDOWN_PUNCTUATION.sub(r"\\\1", char))
        run += 1
        if len(word) > WRAP_AT and (char in _BREAK_AFTER or run >= WRAP_AT):
            out.append(ZERO_WIDTH_SPACE)
            run = 0
    return "".join(out).rstrip(ZERO_WIDTH_SPACE)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(markdown_cell(value) for value in row) + " |" for row in rows]
    return lines


def evidence_table(evidence: PromotionEvidence) -> list[str]:
    return markdown_table(["evidence", "value"], evidence_rows(evidence))


def evidence_rows(evidence: PromotionEvidence) -> list[tuple[str, str]]:
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


def attempts_table(approval: Approval) -> list[str]:
    if not approval.attempts:
        return ["No answer was refused."]
    return markdown_table(
        ["who", "when", "answer", "why refused"],
        [
            (a.reviewer, f"{a.at:%Y-%m-%d %H:%M:%S} UTC", a.decision, a.reason)
            for a in approval.attempts
        ],
    )


def decision_markdown(evidence: PromotionEvidence, approval: Approval, outcome: str) -> str:
    """The decision on one page: what happened, who decided, who was refused, the evidence."""
    version = evidence.version.version
    lines = [
        f"# Promote {evidence.model} v{version} to {evidence.target}: {approval.status}",
        "",
        f"**{markdown_cell(outcome)}**",
        "",
        f"Approval #{approval.id}, requested by {markdown_cell(approval.requester)} at "
        f"{approval.created_at:%Y-%m-%d %H:%M:%S} UTC; approvers "
        f"{markdown_cell(', '.join(approval.approvers) or 'anyone')}, "
        f"{approval.min_approvals} needed" + (", four eyes." if approval.four_eyes else "."),
        "",
        "## Decisions",
        "",
        *_decisions_table(approval),
        "",
        "## Refused answers",
        "",
        *attempts_table(approval),
        "",
        "## Evidence",
        "",
        *evidence_table(evidence),
    ]
    return "\n".join(lines) + "\n"


def _decisions_table(approval: Approval) -> list[str]:
    if not approval.decisions:
        return ["Nobody decided."]
    return markdown_table(
        ["reviewer (proven by code)", "decision", "when", "comment"],
        [
            (d.reviewer, d.decision, f"{d.at:%Y-%m-%d %H:%M:%S} UTC", d.comment or "-")
            for d in approval.decisions
        ],
    )


@task(cache_policy=NO_CACHE)
async def publish_decision(evidence: PromotionEvidence, approval: Approval, outcome: str) -> str:
    """The decision artifact, keyed by model and version (a new version of it per run)."""
    key = decision_key(evidence.model, evidence.version.version)
    await acreate_markdown_artifact(
        decision_markdown(evidence, approval, outcome),
        key=key,
        description=f"Promotion decision: {evidence.model} v{evidence.version.version}",
    )
    return key

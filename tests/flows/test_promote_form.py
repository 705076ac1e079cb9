"""The review form and the evidence above it, as the Prefect UI receives them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from prefect._internal.pydantic.v2_schema import create_v2_schema

from flows.review_form import ReviewForm, review_markdown
from registry.domain import Approval, ApprovalStatus, Lineage, ModelVersion, RefusedAttempt
from registry.stages import Stage
from tasks.promotion import EvaluationEvidence, PromotionEvidence
from tasks.promotion_report import ZERO_WIDTH_SPACE, decision_markdown

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LONG_URI = "file:///srv/datasets/support_tickets/2026-12-01/customer-intent-eval-holdout-v3.jsonl"


def _evidence() -> PromotionEvidence:
    version = ModelVersion(
        id=1, model="support-intent", version=3, provider_model_id="ft:local:support-intent:v3",
        stage=Stage.STAGING, created_by="t", created_at=AT,
        lineage=Lineage(parent_version=2, dataset_uri=LONG_URI, dataset_sha256="ab" * 32),
    )  # fmt: skip
    evaluation = EvaluationEvidence(
        id=7, dataset="eval | holdout", examples=500, accuracy=0.91, accuracy_low=0.88,
        accuracy_high=0.93, latency_p95_ms=2.0, passed=True,
        versus_champion="not worse than v2: McNemar exact p = 0.81 (b = 9, c = 12)",
        worse_than_champion=False,
    )  # fmt: skip
    return PromotionEvidence(
        model="support-intent", version=version, target=Stage.PRODUCTION,
        policy={"approvers": ["alice", "bob"]}, champion=2, evaluation=evaluation,
    )  # fmt: skip


def _approval(**changes: object) -> Approval:
    approval = Approval(
        id=4, model="support-intent", version=3, target_stage=Stage.PRODUCTION,
        requester="carol", approvers=["alice", "bob"], min_approvals=1, four_eyes=True,
        status=ApprovalStatus.PENDING, flow_run_id=None, created_at=AT, expires_at=None,
        decided_at=None, decisions=[],
    )  # fmt: skip
    return approval.model_copy(update=changes)


def test_decision_reviewer_and_code_are_required_and_nothing_is_prefilled() -> None:
    form = ReviewForm.with_initial_data(description="evidence")
    schema = create_v2_schema(form.__name__, model_base=form)
    assert set(schema["required"]) == {"decision", "reviewer", "code"}
    assert "default" not in schema["properties"]["decision"]
    assert "default" not in schema["properties"]["reviewer"]
    assert schema["properties"]["code"]["pattern"] == "^[0-9]{6}$"


def _table_rows(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    # Split on pipes that are not escaped.
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_the_evidence_table_has_a_header_and_long_values_can_wrap() -> None:
    markdown = review_markdown(_evidence(), _approval())
    header, rule, *body = _table_rows(markdown)
    assert header == ["evidence", "value"]
    assert set(rule) == {"---"}
    assert all(len(row) == 2 for row in body)  # "eval | holdout" did not split a cell
    dataset = next(value for name, value in body if name == "dataset")
    assert dataset.replace(ZERO_WIDTH_SPACE, "").replace("\\", "").startswith(LONG_URI)
    unbroken = max(len(run) for run in re.split(rf"[\s{ZERO_WIDTH_SPACE}]", dataset))
    assert unbroken <= 32


def test_refused_answers_show_above_the_form_and_in_the_decision() -> None:
    refused = RefusedAttempt(
        reviewer="mallory", decision=ApprovalStatus.APPROVED, reason="'mallory' is not an approver",
        at=AT,
    )  # fmt: skip
    approval = _approval(attempts=[refused])
    assert "'mallory' is not an approver" in review_markdown(_evidence(), approval)
    settled = approval.model_copy(update={"status": ApprovalStatus.EXPIRED})
    report = decision_markdown(_evidence(), settled, "approval #4 expired: nobody answered")
    assert report.startswith("# Promote support-intent v3 to production: expired\n")
    who, _when, answer, why = _table_rows(report.split("## Refused answers")[1])[2]
    assert (who, answer, why) == ("mallory", "approved", "'mallory' is not an approver")
    assert "Nobody decided." in report

"""Direct row setup for registry tests (catalog sync has its own tests)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.domain import JsonObject, Team
from registry.lifecycle import NewVersion, TransitionRequest, register_version, transition_stage
from registry.stages import Stage
from registry.tables import ModelRow, ProviderRow
from registry.teams import TeamRepository

PIPELINE = [Stage.TESTING, Stage.STAGING, Stage.PRODUCTION]


def seed_model(
    session: Session, team_name: str, name: str = "support-intent", policy: JsonObject | None = None
) -> Team:
    team = TeamRepository(session).ensure(team_name)
    provider = session.scalar(select(ProviderRow).where(ProviderRow.name == "local"))
    if provider is None:
        provider = ProviderRow(name="local", kind="local", options={}, source_file="local.yaml")
        session.add(provider)
        session.flush()
    session.add(
        ModelRow(
            team_id=team.id,
            name=name,
            provider_id=provider.id,
            base_model="tfidf-logreg",
            category="classification",
            description="test model",
            cost={},
            policy=policy or {},
            rollout={},
            source_file=f"models/{name}.yaml",
        )
    )
    session.flush()
    return team


def add_version(session: Session, team: Team, model: str = "support-intent") -> int:
    new = NewVersion(model=model, provider_model_id="m", actor="tester")
    return register_version(session, team, new).version


def advance(
    session: Session, team: Team, version: int, to: Stage, model: str = "support-intent"
) -> None:
    """Walk a development version forward through the pipeline up to `to`."""
    for stage in PIPELINE:
        request = TransitionRequest(
            model=model, version=version, target=stage, actor="tester", reason=f"to {stage}"
        )
        transition_stage(session, team, request)
        if stage is to:
            return


def promote_with_approval(
    session: Session, team: Team, version: int, model: str = "support-intent"
) -> None:
    """Move a staging version to production the way the promote flow does: approval first
    (the reviewers' proof by one-time code has tests of its own)."""
    from registry.approvals import ApprovalRepository
    from registry.domain import ApprovalStatus
    from registry.model_repository import ModelRepository

    models = ModelRepository(session, team)
    policy = models.get(model).policy["production"]
    row = models.version_row(model, version)
    approvals = ApprovalRepository(session, team)
    approval = approvals.open(row, target=Stage.PRODUCTION, requester="requester", policy=policy)
    for reviewer in policy.approvers[: policy.min_approvals]:
        approvals.record_decision(
            approval.id, reviewer=reviewer, decision=ApprovalStatus.APPROVED, comment=""
        )
    approvals.settle(approval.id, ApprovalStatus.APPROVED)
    request = TransitionRequest(
        model=model, version=version, target=Stage.PRODUCTION, actor="requester",
        reason="approved", approval_id=approval.id,
    )  # fmt: skip
    transition_stage(session, team, request)

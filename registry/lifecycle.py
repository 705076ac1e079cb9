"""Lifecycle service: register versions, move them through stages, roll back.

Every move is a compare-and-set on the current stage plus a ledger entry, in the
caller's transaction (a rollback also on the production version its caller saw).
Concurrent writers lose with `ConflictError`, never with a second production
version (the database's partial unique index backs this up).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from sqlalchemy.orm import Session

from registry.approvals import ApprovalRepository
from registry.domain import (
    ApprovalStatus,
    Frozen,
    JsonObject,
    LedgerAction,
    Lineage,
    ModelVersion,
    Team,
)
from registry.endpoints.follow import follow_stage_changes
from registry.errors import (
    ApprovalRequiredError,
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    translate_database_errors,
)
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.orm import INT32_MAX
from registry.stages import Stage, allowed_targets
from registry.tables import ModelVersionRow
from registry.text import PersonName, Reason, check_single_line

# Lengths and ranges match the columns.
ModelName = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(check_single_line)]
ProviderModelId = Annotated[
    str, Field(min_length=1, max_length=256), AfterValidator(check_single_line)
]
FlowRunId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(check_single_line)]
VersionNumber = Annotated[int, Field(ge=1, le=INT32_MAX)]
RowId = Annotated[int, Field(ge=1, le=INT32_MAX)]


class NewVersion(Frozen):
    model: ModelName
    provider_model_id: ProviderModelId
    actor: PersonName
    reason: Reason = "registered"
    lineage: Lineage = Lineage()


class TransitionRequest(Frozen):
    model: ModelName
    version: VersionNumber
    target: Stage
    actor: PersonName
    reason: Reason
    expect: Stage | None = None
    evidence: JsonObject = Field(default_factory=dict)
    flow_run_id: FlowRunId | None = None
    approval_id: RowId | None = None


class TransitionResult(Frozen):
    version: ModelVersion
    from_stage: Stage
    replaced: int | None = None


def register_version(session: Session, team: Team, new: NewVersion) -> ModelVersion:
    """Create the next version of a model, in `development`."""
    models = ModelRepository(session, team)
    with translate_database_errors(f"registering a version of {new.model}"):
        model = models.row(new.model, for_update=False)
        if model.retired_at is not None:
            raise InvalidInputError(
                f"model {new.model!r} is retired (removed from the catalog); "
                "restore its catalog file and run `modelops catalog sync`",
                field="model",
            )
        parent_id = None
        if new.lineage.parent_version is not None:
            parent_id = models.version_row(new.model, new.lineage.parent_version).id
        row = ModelVersionRow(
            model_id=model.id,
            version=models.next_version_number(model.id),
            provider_model_id=new.provider_model_id,
            stage=Stage.DEVELOPMENT.value,
            parent_version_id=parent_id,
            dataset_uri=new.lineage.dataset_uri,
            dataset_sha256=new.lineage.dataset_sha256,
            hyperparameters=new.lineage.hyperparameters,
            fine_tune_job_id=new.lineage.fine_tune_job_id,
            provider_key_id=new.lineage.provider_key_id,
            created_by=new.actor,
        )
        version = models.add_version(row)
        LedgerRepository(session, team).append(
            row,
            action=LedgerAction.REGISTER,
            transition=(None, Stage.DEVELOPMENT),
            actor=new.actor,
            reason=new.reason,
        )
        session.flush()
    return version


def transition_stage(session: Session, team: Team, request: TransitionRequest) -> TransitionResult:
    """Move one version to `request.target`, archiving the old production version if needed."""
    models = ModelRepository(session, team)
    what = f"moving {request.model} v{request.version} to {request.target}"
    with translate_database_errors(what):
        row = models.version_row(request.model, request.version)
        current = Stage(row.stage)
        _check_transition(request, current)
        _check_policy(session, team, request, models)
        replaced = None
        if request.target is Stage.PRODUCTION:
            replaced = _archive_current_production(session, team, request, models)
        if not models.compare_and_set_stage(row.id, current, request.target):
            raise ConflictError(f"{what}: its stage changed concurrently; re-read and retry")
        LedgerRepository(session, team).append(
            row,
            action=LedgerAction.TRANSITION,
            transition=(current, request.target),
            actor=request.actor,
            reason=request.reason,
            evidence=request.evidence,
            flow_run_id=request.flow_run_id,
        )
        follow_stage_changes(
            session, team, request.model, actor=request.actor, reason=request.reason
        )
        session.flush()
    return TransitionResult(
        version=models.version(request.model, request.version),
        from_stage=current,
        replaced=replaced,
    )


def _check_transition(request: TransitionRequest, current: Stage) -> None:
    if request.expect is not None and request.expect is not current:
        raise ConflictError(
            f"{request.model} v{request.version} is in {current}, not {request.expect} "
            "as expected; nothing changed"
        )
    allowed = allowed_targets(current)
    if request.target not in allowed:
        choices = ", ".join(sorted(allowed)) or "none (it is final)"
        raise InvalidTransitionError(
            f"{request.model} v{request.version} cannot move from {current} to "
            f"{request.target}; allowed from {current}: {choices}"
        )


def _check_policy(
    session: Session, team: Team, request: TransitionRequest, models: ModelRepository
) -> None:
    policy = models.get(request.model).policy.get(request.target.value)
    if policy is None or not policy.approvers:
        return
    if request.approval_id is None:
        raise ApprovalRequiredError(
            f"entering {request.target} for {request.model} needs approval by "
            f"{', '.join(policy.approvers)}; run the promote flow: "
            f"`modelops run promote --param model={request.model} "
            f"--param version={request.version} --param stage={request.target}`"
        )
    approval = ApprovalRepository(session, team).get(request.approval_id)
    if (
        approval.status is not ApprovalStatus.APPROVED
        or approval.model != request.model
        or approval.version != request.version
        or approval.target_stage is not request.target
    ):
        raise ApprovalRequiredError(
            f"approval {request.approval_id} does not approve {request.model} "
            f"v{request.version} for {request.target} (status {approval.status})"
        )


def _archive_current_production(
    session: Session, team: Team, request: TransitionRequest, models: ModelRepository
) -> int | None:
    current = models.production(request.model)
    if current is None:
        return None
    if not models.compare_and_set_stage(current.id, Stage.PRODUCTION, Stage.ARCHIVED):
        raise ConflictError(
            f"moving {request.model} v{request.version} to production: production changed "
            "concurrently; re-read and retry"
        )
    LedgerRepository(session, team).append(
        models.version_row(request.model, current.version),
        action=LedgerAction.REPLACED,
        transition=(Stage.PRODUCTION, Stage.ARCHIVED),
        actor=request.actor,
        reason=f"replaced by v{request.version}: {request.reason}",
        flow_run_id=request.flow_run_id,
    )
    return current.version


class RollbackRequest(Frozen):
    """`expect` is the production version the caller saw: a rollback is a compare-and-set
    on it, so N callers who saw the same incident move production back one step, not N."""

    model: ModelName
    actor: PersonName
    reason: Reason
    expect: VersionNumber | None = None
    flow_run_id: FlowRunId | None = None


def rollback(session: Session, team: Team, request: RollbackRequest) -> TransitionResult:
    """Take the production version down and restore the last good one, atomically."""
    models = ModelRepository(session, team)
    ledger = LedgerRepository(session, team)
    what = f"rolling back {request.model}"
    with translate_database_errors(what):
        # Rollbacks of one model queue here, so each sees what the one before it did.
        model_row = models.row(request.model, for_update=True)
        current = models.production(request.model)
        _check_expected_production(request, current)
        if current is None:
            raise InvalidTransitionError(f"{what}: no version is in production")
        target = ledger.last_good_production(model_row, excluding=current.version)
        if target is None:
            raise InvalidTransitionError(
                f"{what}: no earlier production version to return to (v{current.version} "
                "is the first); move a version to production instead"
            )
        target_row = models.version_row(request.model, target)
        if target_row.stage != Stage.ARCHIVED.value:
            raise InvalidTransitionError(
                f"{what}: v{target} is {target_row.stage}, not archived; it cannot return"
            )
        moves = [
            (current.version, Stage.PRODUCTION, Stage.ARCHIVED, LedgerAction.ROLLED_BACK),
            (target, Stage.ARCHIVED, Stage.PRODUCTION, LedgerAction.ROLLBACK),
        ]
        for number, expect, to, action in moves:
            row = models.version_row(request.model, number)
            if not models.compare_and_set_stage(row.id, expect, to):
                raise ConflictError(f"{what}: v{number} changed concurrently; re-read and retry")
            ledger.append(
                row,
                action=action,
                transition=(expect, to),
                actor=request.actor,
                reason=request.reason,
                evidence={"rolled_back": current.version, "restored": target},
                flow_run_id=request.flow_run_id,
            )
        follow_stage_changes(
            session, team, request.model, actor=request.actor, reason=request.reason
        )
        session.flush()
    return TransitionResult(
        version=models.version(request.model, target),
        from_stage=Stage.ARCHIVED,
        replaced=current.version,
    )


def _check_expected_production(request: RollbackRequest, current: ModelVersion | None) -> None:
    if request.expect is None or (current is not None and current.version == request.expect):
        return
    now = f"production is v{current.version}" if current else "no version is in production"
    raise ConflictError(
        f"rolling back {request.model}: {now}, not v{request.expect} as expected; nothing changed"
    )

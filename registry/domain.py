"""Domain objects the registry hands out: plain, frozen, free of ORM state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from registry.stages import Stage

JsonObject = dict[str, JsonValue]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LedgerAction(StrEnum):
    REGISTER = "register"
    TRANSITION = "transition"
    REPLACED = "replaced"  # archived because another version took production
    ROLLBACK = "rollback"
    ROLLED_BACK = "rolled-back"  # the production version a rollback took down
    AB_TEST = "ab-test"  # an A/B test's verdict on the version; its stage did not change
    ROLLOUT = "rollout"  # a rollout's outcome for the version, when its stage did not change


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Team(Frozen):
    id: int
    name: str


class Provider(Frozen):
    id: int
    name: str
    kind: str
    base_url: str | None
    options: JsonObject
    retired: bool


class StagePolicy(Frozen):
    """What entering one stage requires (from the model's catalog policy)."""

    approvers: list[str] = Field(default_factory=list)
    min_approvals: int = 1
    four_eyes: bool = False
    gates: JsonObject = Field(default_factory=dict)


class Model(Frozen):
    id: int
    team: str
    name: str
    provider: str
    base_model: str
    category: str
    description: str
    cost: JsonObject
    policy: dict[str, StagePolicy]
    rollout: JsonObject
    source_file: str
    retired: bool
    updated_at: datetime


class Lineage(Frozen):
    parent_version: int | None = None
    dataset_uri: str | None = None
    dataset_sha256: str | None = None
    hyperparameters: JsonObject = Field(default_factory=dict)
    fine_tune_job_id: str | None = None
    provider_key_id: int | None = None


class ModelVersion(Frozen):
    id: int
    model: str
    version: int
    provider_model_id: str
    stage: Stage
    lineage: Lineage
    created_by: str
    created_at: datetime


class LedgerEntry(Frozen):
    id: int
    model: str
    version: int
    action: LedgerAction
    from_stage: Stage | None
    to_stage: Stage
    actor: str
    reason: str
    evidence: JsonObject
    flow_run_id: str | None
    at: datetime


class ApprovalDecision(Frozen):
    reviewer: str
    decision: ApprovalStatus
    comment: str
    at: datetime


class RefusedAttempt(Frozen):
    """An answer that did not count: who claimed it, when, why. Never the code."""

    reviewer: str
    decision: ApprovalStatus
    reason: str
    at: datetime


class ApprovalRunner(Frozen):
    """The process of the promote run that waits for answers, and when it last said so."""

    host: str
    pid: int
    heartbeat_at: datetime


class Approval(Frozen):
    id: int
    model: str
    version: int
    target_stage: Stage
    requester: str
    approvers: list[str]
    min_approvals: int
    four_eyes: bool
    status: ApprovalStatus
    flow_run_id: str | None
    created_at: datetime
    expires_at: datetime | None
    decided_at: datetime | None
    decisions: list[ApprovalDecision]
    attempts: list[RefusedAttempt] = Field(default_factory=list)
    runner: ApprovalRunner | None = None

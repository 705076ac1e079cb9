"""Flow parameters as pydantic models, so the Prefect UI draws real forms."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from registry.abtests.definition import ABTestDefinition
from registry.orm import INT32_MAX
from registry.rollouts.policy import RolloutOverrides
from registry.stages import Stage
from registry.text import PersonName, Reason

ModelName = Field(
    min_length=1,
    max_length=128,
    pattern=r"^[a-z0-9][a-z0-9-]*$",
    description="Model name from the catalog.",
)
TRAIN_DATASET = "examples/support_tickets/train.jsonl"
EVAL_DATASET = "examples/support_tickets/eval.jsonl"


class FlowParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterModelParams(FlowParams):
    """Sync the catalog, then create version 1 of a model from its provider's base model."""

    model: str = ModelName
    actor: str = Field(default="register-model", min_length=1, max_length=128)


class TrainingSettings(FlowParams):
    """Hyperparameters; empty means the provider's default ("auto")."""

    n_epochs: int | None = Field(default=None, ge=1, le=50)
    batch_size: int | None = Field(default=None, ge=1, le=256)
    learning_rate_multiplier: float | None = Field(default=None, gt=0.0, le=10.0)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class FineTuneParams(FlowParams):
    """Fine-tune a version of a model on a dataset and register the result."""

    model: str = ModelName
    dataset: str = Field(
        default=TRAIN_DATASET, min_length=1, description="Training JSONL (OpenAI chat format)."
    )
    parent_version: int | None = Field(
        default=None,
        ge=1,
        le=INT32_MAX,
        description="Version to start from; empty = production, else latest.",
    )
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    actor: str = Field(default="fine-tune", min_length=1, max_length=128)
    poll_seconds: float = Field(default=2.0, gt=0, le=300, description="How often to poll the job.")
    timeout_seconds: int = Field(default=6 * 3600, ge=60, le=7 * 24 * 3600)


class EvaluateParams(FlowParams):
    """Score a version on an eval dataset, compare with the champion, judge the gates."""

    model: str = ModelName
    version: int = Field(ge=1, le=INT32_MAX, description="Version number to evaluate.")
    dataset: str = Field(default=EVAL_DATASET, min_length=1, description="Eval JSONL.")
    concurrency: int = Field(default=8, ge=1, le=64, description="Requests in flight at once.")
    actor: str = Field(default="evaluate", min_length=1, max_length=128)


class PromotionTarget(StrEnum):
    """Stages a promotion can aim at (the stages a catalog policy can guard)."""

    TESTING = Stage.TESTING.value
    STAGING = Stage.STAGING.value
    PRODUCTION = Stage.PRODUCTION.value

    @property
    def stage(self) -> Stage:
        return Stage(self.value)


class PromoteParams(FlowParams):
    """Promote one version to a stage, with the approvals its policy requires."""

    model: str = ModelName
    version: int = Field(ge=1, le=INT32_MAX, description="Version number to promote.")
    stage: PromotionTarget = Field(default=PromotionTarget.PRODUCTION, description="Target stage.")
    requester: PersonName = Field(description="Who asks for this promotion.")
    reason: Reason = Field(default="promotion", description="Why (kept in the ledger).")
    timeout_seconds: int = Field(
        default=3600, ge=1, le=7 * 24 * 3600, description="How long to wait for approvals."
    )


class RetrainParams(FlowParams):
    """Scheduled: fine-tune on the configured dataset, evaluate, and promote if the gates pass."""

    model: str = ModelName
    dataset: str = Field(default=TRAIN_DATASET, min_length=1)
    eval_dataset: str = Field(default=EVAL_DATASET, min_length=1)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    requester: PersonName = "retrain"
    approval_timeout_seconds: int = Field(default=24 * 3600, ge=10, le=7 * 24 * 3600)


class LookCadence(FlowParams):
    """When an A/B test looks at its data: after this many new requests, or this long."""

    every_requests: int = Field(
        default=1000, ge=1, le=10**9, description="Look once this many new requests arrived."
    )
    every_seconds: float = Field(
        default=900, gt=0, le=7 * 24 * 3600, description="...or once this long passed."
    )
    poll_seconds: float = Field(
        default=5, gt=0, le=300, description="How often to count the new requests."
    )


class ABTestParams(FlowParams):
    """Run an A/B test: one planned with `modelops ab create` (test_id), or defined here."""

    test_id: int | None = Field(default=None, ge=1, description="A planned test's id.")
    definition: ABTestDefinition | None = Field(
        default=None, description="The test, when it is not planned yet (leave test_id empty)."
    )
    looks: LookCadence = Field(default_factory=LookCadence)
    approval_timeout_seconds: int = Field(
        default=24 * 3600, ge=10, le=7 * 24 * 3600, description="How long a winner's "
        "promotion waits for its approval.",
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_test(self) -> ABTestParams:
        if (self.test_id is None) == (self.definition is None):
            raise ValueError("give test_id (a planned test) or definition (a new one), not both")
        return self

    @property
    def label(self) -> str:
        """What the run is named after: the test, or the endpoint it will split."""
        if self.test_id is not None:
            return str(self.test_id)
        assert self.definition is not None
        return self.definition.endpoint


class MonitorParams(FlowParams):
    """Evaluate every team's alert rules at the end of one window, then send notifications."""

    window_end: datetime | None = Field(
        default=None,
        description="End of the window evaluated (UTC, whole minute); empty = the minute the "
        "run was scheduled for, so a retried run evaluates the same window.",
    )


class UsageReportParams(FlowParams):
    """Reconcile one day's usage, check budgets, publish usage and recommendations."""

    day: date | None = Field(
        default=None,
        description="The UTC day reconciled (empty = yesterday); the table ends on it.",
    )
    days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="Days of usage in the table and behind the recommendations.",
    )


class PollJobsParams(FlowParams):
    """Poll the generation jobs that heard nothing past their deadline; send owed callbacks."""

    limit: int = Field(default=200, ge=1, le=10_000, description="Jobs polled in one run.")


class DeployLooks(FlowParams):
    """When a rollout looks at its step: after this many new requests, or this long."""

    every_requests: int = Field(
        default=200, ge=1, le=10**9, description="Look once this many new requests arrived."
    )
    every_seconds: float = Field(
        default=30, gt=0, le=24 * 3600, description="...or once this long passed."
    )
    poll_seconds: float = Field(
        default=2, gt=0, le=300, description="How often to count the new requests."
    )


class DeploySmoke(FlowParams):
    """Blue-green's smoke evaluation of the preview, through the gateway."""

    dataset: str | None = Field(
        default=None, max_length=1024,
        description="Eval dataset (chat JSONL) sent to the preview; empty = the one the "
        "version was last evaluated on.",
    )  # fmt: skip
    examples: int = Field(default=50, ge=1, le=10_000, description="Examples sent, from the top.")
    concurrency: int = Field(default=4, ge=1, le=64, description="Requests in flight at once.")
    gateway_url: str = Field(
        default="", max_length=512, pattern=r"^(https?://[\x21-\x7e]+)?$",
        description="The gateway as this worker reaches it; empty = MODELOPS_PUBLIC_URL.",
    )  # fmt: skip
    ready_seconds: float = Field(
        default=60, gt=0, le=3600,
        description="How long to wait for the gateway to serve the new preview route.",
    )  # fmt: skip


class DeployParams(FlowParams):
    """Roll a version onto an endpoint by the model's rollout policy (overridable here)."""

    endpoint: str = Field(
        min_length=1, max_length=128, pattern=r"^[a-z0-9][a-z0-9-]*$", description="Endpoint."
    )
    version: int = Field(ge=1, le=INT32_MAX, description="Version to deploy.")
    actor: PersonName = Field(description="Who deploys.")
    reason: Reason = Field(default="deploy", description="Why (kept in the ledgers).")
    policy: RolloutOverrides = Field(
        default_factory=RolloutOverrides,
        description="Changes to the catalog's rollout policy for this run; empty = catalog.",
    )
    approval_id: int | None = Field(
        default=None, ge=1, description="An approval already given for production; empty = ask."
    )
    looks: DeployLooks = Field(default_factory=DeployLooks)
    smoke: DeploySmoke = Field(default_factory=DeploySmoke)
    approval_timeout_seconds: int = Field(
        default=24 * 3600, ge=10, le=7 * 24 * 3600,
        description="How long the production approval (and a paused rollout) may wait.",
    )  # fmt: skip


class UndeployParams(FlowParams):
    """Take one version off an endpoint (its weight moves to the others), or the endpoint."""

    endpoint: str = Field(min_length=1, max_length=128, pattern=r"^[a-z0-9][a-z0-9-]*$")
    version: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Version to take off; empty = endpoint."
    )
    actor: PersonName = Field(description="Who undeploys.")
    reason: Reason = Field(default="undeploy", description="Why (kept in the route ledger).")

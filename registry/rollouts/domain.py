"""What the rollout registry hands out: a rollout, its policy, each measurement with the
arms' sufficient statistics and the verdict, and each decision taken."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from registry.domain import Frozen
from registry.endpoints.domain import Environment, Route


class Strategy(StrEnum):
    DIRECT = "direct"
    ROLLING = "rolling"
    CANARY = "canary"
    BLUE_GREEN = "blue-green"
    SHADOW = "shadow"


class RolloutStatus(StrEnum):
    PENDING = "pending"  # recorded; no traffic moved yet
    PROGRESSING = "progressing"  # owns the endpoint, moving through its steps
    PAUSED = "paused"  # waiting for a person (`rollouts resume` or `abort`)
    SUCCEEDED = "succeeded"  # the candidate serves 100% (shadow: the report is out)
    ROLLED_BACK = "rolled_back"  # the routes from before are back
    FAILED = "failed"  # could not finish; routes as the last decision left them


ACTIVE = (RolloutStatus.PENDING, RolloutStatus.PROGRESSING, RolloutStatus.PAUSED)
FINAL = (RolloutStatus.SUCCEEDED, RolloutStatus.ROLLED_BACK, RolloutStatus.FAILED)


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class DecisionKind(StrEnum):
    START = "start"  # the endpoint is claimed and the first step's routes set
    ADVANCE = "advance"  # the step passed: next step's weights
    HOLD = "hold"  # not decided yet: keep collecting
    PAUSE = "pause"  # waiting for a person
    RESUME = "resume"
    ROLLBACK = "rollback"  # routes from before restored
    PROMOTE = "promote"  # the candidate serves 100%, endpoint released
    REPORT = "report"  # shadow: the comparison is done, nothing switched
    SWITCH = "switch"  # blue-green: the candidate takes all traffic, the old stays warm
    FAIL = "fail"


class InconclusiveAction(StrEnum):
    PAUSE = "pause"
    ROLLBACK = "rollback"


class RolloutPolicy(Frozen):
    """The catalog's `rollout:` section with the run's overrides applied, as checked."""

    strategy: Strategy
    steps: list[int]
    bake_seconds: int
    min_samples: int
    max_error_rate_increase: float
    max_latency_increase_ratio: float | None
    max_quality_decrease: float | None
    step_deadline_seconds: int
    on_inconclusive: InconclusiveAction
    max_error_rate: float | None
    max_p95_latency_ms: float | None
    rollback_window_seconds: int
    shadow_percent: int
    alpha: float
    max_looks: int


class ArmSums(Frozen):
    """One arm's sufficient statistics over a window: the sums rollups add up to."""

    versions: list[int]
    requests: int = 0
    errors: int = 0
    latency_n: int = 0
    latency_sum_ms: float = 0.0
    latency_sum_sq_ms2: float = 0.0
    latency_histogram: dict[int, int] = Field(default_factory=dict)
    quality_n: int = 0
    quality_sum: float = 0.0
    quality_sum_sq: float = 0.0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


class Check(Frozen):
    name: str
    outcome: Verdict
    reason: str
    detail: str
    estimate: float | None = None
    interval: tuple[float, float] | None = None
    margin: float | None = None


class Measurement(Frozen):
    rollout_id: int
    number: int
    step: int
    at: datetime
    window_start: datetime
    baseline: ArmSums
    candidate: ArmSums
    verdict: Verdict
    reasons: list[str]
    checks: list[Check]


class Decision(Frozen):
    rollout_id: int
    number: int
    step: int
    kind: DecisionKind
    actor: str
    reason: str
    routes: list[Route]
    measurement: int | None
    at: datetime


class Rollout(Frozen):
    id: int
    team: str
    endpoint: str
    environment: Environment
    model: str
    version: int
    baseline_versions: list[int]
    strategy: Strategy
    status: RolloutStatus
    policy: RolloutPolicy
    step: int  # index into policy.steps of the step in force (or being set)
    step_started_at: datetime | None
    routes_before: list[Route]
    approval_id: int | None
    outcome: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    flow_run_id: str | None
    measurements: int

    @property
    def run_name(self) -> str:
        return f"deploy-{self.endpoint}-v{self.version}"

    @property
    def weight(self) -> int:
        """The candidate's percent at the current step."""
        if self.strategy is Strategy.SHADOW:
            return self.policy.shadow_percent
        return self.policy.steps[min(self.step, len(self.policy.steps) - 1)]

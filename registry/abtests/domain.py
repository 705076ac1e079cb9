"""What the A/B test registry hands out: a test, its plan, the sufficient statistics of
each arm at a look, the statistics computed from them and the verdict."""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from registry.abtests.definition import ABTestDefinition
from registry.abtests.metrics import Better, MetricKind
from registry.domain import Frozen
from registry.endpoints.domain import Environment, Route


class ABTestStatus(StrEnum):
    PLANNED = "planned"  # defined; the endpoint is not split yet
    RUNNING = "running"  # owns the endpoint's routes; looks at the data
    CONCLUDED = "concluded"  # has its verdict; acting on it (a promotion may wait)
    FINISHED = "finished"  # acted on: routes settled, endpoint released
    STOPPED = "stopped"  # stopped by a person: routes restored, endpoint released


ACTIVE = (ABTestStatus.PLANNED, ABTestStatus.RUNNING, ABTestStatus.CONCLUDED)


class VerdictKind(StrEnum):
    B_WINS = "b wins"
    A_WINS = "a wins"
    NO_DIFFERENCE = "no difference within MDE"
    GUARDRAIL_FAILED = "guardrail failed"
    INVALID_SRM = "invalid: SRM"
    INCONCLUSIVE = "inconclusive"  # the maximum duration (or the fixed horizon) came first
    STOPPED = "stopped"  # a person stopped it


class Role(StrEnum):
    PRIMARY = "primary"
    GUARDRAIL = "guardrail"


class Decision(StrEnum):
    """What one metric says at a look."""

    B_BETTER = "b better"
    A_BETTER = "a better"
    EQUIVALENT = "within MDE"  # the interval lies inside (-MDE, +MDE)
    NON_INFERIOR = "non-inferior"  # guardrail: b is shown no worse than the margin
    FAILED = "failed"  # guardrail: b is shown worse than the margin
    CONTINUE = "continue"  # not conclusive yet
    NOT_JUDGED = "not judged"  # fixed horizon before its sample, or data unusable


# Sufficient statistics of one metric in one arm, as stored with each look.
class ProportionData(Frozen):
    kind: Literal["proportion"] = "proportion"
    n: int
    successes: int


class MeanData(Frozen):
    kind: Literal["mean"] = "mean"
    n: int
    sum: float
    sum_sq: float


class HistogramData(Frozen):
    """Counts per log bucket (see registry.outcomes.histogram)."""

    kind: Literal["histogram"] = "histogram"
    counts: dict[int, int]

    @property
    def n(self) -> int:
        return sum(self.counts.values())


class UnusableData(Frozen):
    kind: Literal["unusable"] = "unusable"
    n: int
    reason: str


MetricData = Annotated[
    ProportionData | MeanData | HistogramData | UnusableData, Field(discriminator="kind")
]


class ArmData(Frozen):
    version: int
    requests: int
    metrics: dict[str, MetricData]


Interval = tuple[float | None, float | None]  # None: unbounded on that side


def finite(value: float) -> float | None:
    """JSON has no infinity: an unbounded end is stored (and shown) as None."""
    return value if math.isfinite(value) else None


class SrmSummary(Frozen):
    counts: tuple[int, int]
    weights: tuple[int, int]
    chi2: float | None
    p_value: float
    mismatch: bool
    max_deviation: float
    threshold: float
    status: str
    reason: str


class MetricResult(Frozen):
    """One metric at one look, every number as `analysis` returned it.

    `diff` is b - a (in the metric's unit); `rel_lift` is b / a - 1. `threshold` is the
    MDE (primary) or the margin (guardrail; a share of a's value when `relative`). The
    test is against `boundary`: 0 for the primary, the worse side of the margin for a
    guardrail. `p_adjusted` is Holm's, over the guardrails."""

    metric: str
    role: Role
    kind: MetricKind
    better: Better
    method: str
    status: str
    reason: str
    n_a: int
    n_b: int
    estimate_a: float
    estimate_b: float
    diff: float
    diff_ci: Interval
    rel_lift: float | None
    rel_lift_ci: Interval | None
    p_value: float
    p_adjusted: float | None = None
    threshold: float
    relative: bool = False
    boundary: float = 0.0
    decision: Decision
    why: str


class LookResult(Frozen):
    srm: SrmSummary
    metrics: list[MetricResult]
    verdict: VerdictKind | None  # None: keep looking
    reason: str
    final: bool  # the last look (deadline or stop), whatever it found

    @property
    def primary(self) -> MetricResult:
        return self.metrics[0]

    @property
    def guardrails(self) -> list[MetricResult]:
        return self.metrics[1:]


class Plan(Frozen):
    """The sample the definition implies and how long current traffic takes to bring it.

    `n_a`/`n_b` are what the test plans for (sequential: `analysis.sequential_sample_size`
    of the fixed-horizon plan); `n_star` tunes the always-valid intervals to that total.
    Everything but `n_star` is None when the baseline arm had no traffic to plan from."""

    baseline_minutes: int
    baseline_requests: int
    baseline: float | None
    baseline_sd: float | None
    requests_per_minute: float
    fixed_n_a: int | None
    fixed_n_b: int | None
    n_a: int | None
    n_b: int | None
    n_star: float
    expected_minutes: float | None
    note: str


class ABTest(Frozen):
    id: int
    team: str
    endpoint: str
    environment: Environment
    model: str
    status: ABTestStatus
    definition: ABTestDefinition
    plan: Plan
    routes_before: list[Route]
    verdict: VerdictKind | None
    verdict_reason: str
    action: str
    looks: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    deadline_at: datetime | None
    concluded_at: datetime | None
    finished_at: datetime | None
    flow_run_id: str | None

    @property
    def name(self) -> str:
        return self.definition.name or f"ab-test-{self.id}"


class Look(Frozen):
    test_id: int
    number: int
    at: datetime
    a: ArmData
    b: ArmData
    result: LookResult

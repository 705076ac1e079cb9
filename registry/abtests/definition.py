"""What an A/B test is asked to decide: two variants and their split, a primary metric
with its minimum detectable effect, guardrails with non-inferiority margins, the error
rates, sequential or fixed horizon, and how long it may run. Checked when it is built."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, ValidationInfo, field_validator, model_validator

from registry.abtests.metrics import Better, MetricInfo, MetricKind, metric_info
from registry.domain import Frozen
from registry.stages import Stage

PROMOTION_TARGETS = (Stage.TESTING, Stage.STAGING, Stage.PRODUCTION)
MAX_GUARDRAILS = 8


class Stopping(StrEnum):
    """When the verdict may be reached."""

    SEQUENTIAL = "sequential"  # always-valid: at any look
    FIXED = "fixed"  # fixed horizon: once, at the planned sample


class Variant(Frozen):
    """One arm: a version of the endpoint's model and the percent of routing keys it gets."""

    version: int = Field(ge=1, description="Version number of the endpoint's model.")
    weight: int = Field(ge=1, le=99, description="Percent of routing keys sent to it.")


class _MetricChoice(Frozen):
    metric: str = Field(
        min_length=1, max_length=80, description="e.g. success_rate, latency_p95, metric.csat."
    )
    better: Better | None = Field(
        default=None, description="Which direction is better; empty = the metric's own."
    )

    @field_validator("metric")
    @classmethod
    def _known(cls, name: str) -> str:
        metric_info(name)
        return name

    @property
    def info(self) -> MetricInfo:
        return metric_info(self.metric)

    @property
    def direction(self) -> Better:
        return self.better or self.info.better


class PrimaryMetric(_MetricChoice):
    """The metric the verdict is about; `mde` is absolute, in the metric's unit
    (0.03 = three points of a rate)."""

    mde: float = Field(gt=0, le=1e12, description="Minimum detectable effect (absolute).")

    @model_validator(mode="after")
    def _not_quantile(self) -> PrimaryMetric:
        info = self.info
        if info.kind is MetricKind.QUANTILE:
            raise ValueError(
                f"{self.metric} is a quantile: quantiles serve as guardrails only (no sample "
                "size formula); pick a proportion or a mean as the primary metric"
            )
        if info.kind is MetricKind.PROPORTION and self.mde >= 1:
            raise ValueError(f"mde of a rate is a share below 1 (0.03 = 3 points), got {self.mde}")
        return self


class Guardrail(_MetricChoice):
    """A metric the winner must not make worse by more than `margin` (absolute in the
    metric's unit, or a share of the control's value when `relative`)."""

    margin: float = Field(ge=0, le=1e12, description="Non-inferiority margin.")
    relative: bool = Field(default=False, description="The margin is a share (0.1 = 10%).")


class ABTestDefinition(Frozen):
    """An A/B test of two versions on one endpoint. The first variant is a (control)."""

    endpoint: str = Field(min_length=1, max_length=128, description="Endpoint name.")
    variants: list[Variant] = Field(
        min_length=2, max_length=2, description="a (control) then b; weights sum to 100."
    )
    primary: PrimaryMetric
    guardrails: list[Guardrail] = Field(default_factory=list, max_length=MAX_GUARDRAILS)
    alpha: float = Field(default=0.05, description="Error rate of a verdict, in (0, 1).")
    power: float = Field(default=0.8, description="Chance to detect the MDE, in (0, 1).")
    mode: Stopping = Field(default=Stopping.SEQUENTIAL, description="sequential or fixed.")
    max_duration_hours: float = Field(default=14 * 24, gt=0, le=90 * 24)
    min_sample_per_arm: int = Field(
        default=100, ge=10, le=10**9, description="No verdict before each arm has this many."
    )
    promote_to: Stage | None = Field(
        default=Stage.PRODUCTION, description="Where a winning b is promoted; empty = nowhere."
    )
    name: str = Field(default="", max_length=200, description="A label for people.")
    actor: str = Field(min_length=1, max_length=128, description="Who runs the test.")

    @field_validator("alpha", "power")
    @classmethod
    def _open_unit(cls, value: float, info: ValidationInfo) -> float:
        name = info.field_name
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be in (0, 1), exclusive, got {value}")
        return value

    @field_validator("promote_to")
    @classmethod
    def _promotion_target(cls, stage: Stage | None) -> Stage | None:
        if stage is not None and stage not in PROMOTION_TARGETS:
            allowed = ", ".join(s.value for s in PROMOTION_TARGETS)
            raise ValueError(f"promote_to must be one of {allowed} or empty, got {stage.value}")
        return stage

    @model_validator(mode="after")
    def _consistent(self) -> ABTestDefinition:
        a, b = self.variants
        if a.version == b.version:
            raise ValueError(f"variants: a and b are both v{a.version}; pick two versions")
        if a.weight + b.weight != 100:
            raise ValueError(
                f"variants: weights must sum to 100, got {a.weight + b.weight} "
                f"(v{a.version}={a.weight}, v{b.version}={b.weight})"
            )
        names = [self.primary.metric, *(g.metric for g in self.guardrails)]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"metrics listed more than once: {', '.join(twice)}")
        return self

    @property
    def a(self) -> Variant:
        return self.variants[0]

    @property
    def b(self) -> Variant:
        return self.variants[1]

"""A rollout's policy: the model's catalog `rollout:` section with one run's overrides, checked
as one document so that an error names the field and what is allowed."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from registry.catalog_spec import RolloutSpec
from registry.domain import Frozen
from registry.errors import InvalidInputError
from registry.rollouts.domain import InconclusiveAction, RolloutPolicy, Strategy

ALL_AT_ONCE = (Strategy.DIRECT, Strategy.BLUE_GREEN)
MIN_JUDGED_SAMPLES = 2  # analysis.judge_canary needs two requests an arm to compute anything


class RolloutOverrides(Frozen):
    """What one run may change of the catalog's policy; empty fields keep the catalog's."""

    strategy: Strategy | None = None
    steps: list[int] | None = Field(default=None, max_length=20)
    bake_seconds: int | None = None
    min_samples: int | None = None
    max_error_rate_increase: float | None = None
    max_latency_increase_ratio: float | None = None
    max_quality_decrease: float | None = None
    step_deadline_seconds: int | None = None
    on_inconclusive: InconclusiveAction | None = None
    max_error_rate: float | None = None
    max_p95_latency_ms: float | None = None
    rollback_window_seconds: int | None = None
    shadow_percent: int | None = None
    alpha: float | None = None
    max_looks: int | None = None


def rollout_policy(catalog: dict[str, Any], overrides: RolloutOverrides | None) -> RolloutPolicy:
    """The policy a rollout runs under. A strategy changed by the run without steps gets the
    steps that strategy needs when the catalog's do not fit it (direct, blue-green: [100]).
    Blue-green runs as two steps: 0% (the preview, reached only by PREVIEW_HEADER) and the
    switch to 100%."""
    merged = dict(catalog)
    changes = overrides.model_dump(mode="json", exclude_none=True) if overrides else {}
    if changes.get("strategy") in ALL_AT_ONCE and "steps" not in changes:
        changes["steps"] = [100]
    merged.update(changes)
    try:
        spec = RolloutSpec.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "rollout"
        source = "the run's override" if field.split(".")[0] in changes else "the catalog"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidInputError(f"rollout {field} ({source}): {message}", field=field) from None
    return RolloutPolicy(
        strategy=Strategy(spec.strategy),
        steps=[0, 100] if spec.strategy == Strategy.BLUE_GREEN else list(spec.steps),
        bake_seconds=spec.bake_seconds,
        min_samples=max(MIN_JUDGED_SAMPLES, spec.min_samples),
        max_error_rate_increase=spec.max_error_rate_increase,
        max_latency_increase_ratio=spec.max_latency_increase_ratio,
        max_quality_decrease=spec.max_quality_decrease,
        step_deadline_seconds=spec.step_deadline_seconds,
        on_inconclusive=InconclusiveAction(spec.on_inconclusive),
        max_error_rate=spec.max_error_rate,
        max_p95_latency_ms=spec.max_p95_latency_ms,
        rollback_window_seconds=spec.rollback_window_seconds,
        shadow_percent=spec.shadow_percent,
        alpha=spec.alpha,
        max_looks=spec.max_looks,
    )

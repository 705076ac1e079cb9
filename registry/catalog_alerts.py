"""The catalog's alert rules: what a model (or one of its endpoints) is watched by, as
`alerts:` in `models/*.yaml` (evaluated by registry/alerts)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator

from registry.catalog_fields import NAME_RULE, Spec, matching, one_of

ALERT_RULE_KINDS: tuple[str, ...] = ("threshold", "burn_rate", "key_pool", "event", "budget")
SEVERITIES: tuple[str, ...] = ("critical", "error", "warning", "info")  # most urgent first
THRESHOLD_METRICS: tuple[str, ...] = (
    "error_rate",
    "latency_p95_ms",
    "latency_p99_ms",
    "ttft_p95_ms",
    "quality_mean",
    "cost_per_request_usd",
)
KEY_POOL_CONDITIONS: tuple[str, ...] = ("exhausted", "unauthorized")
# What the flows report (registry.alerts.events.emit); event rules and channels name them.
EVENT_KINDS: tuple[str, ...] = (
    "model.promoted",
    "rollout.succeeded",
    "rollout.rolled_back",
    "rollout.failed",
    "abtest.concluded",
    "abtest.srm",
    "budget.crossed",
)
MAX_ALERT_RULES = 50
MAX_WINDOW_SECONDS = 30 * 86_400
_DURATION = re.compile(r"(\d{1,6})([mhd])")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86_400}
_DURATION_RULE = "use whole minutes, hours or days such as 5m, 6h or 3d (or 0)"


def parse_duration(value: object) -> int:
    """Seconds in `0`, `5m`, `6h`, `3d`, or an integer number of seconds (whole minutes)."""
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and value.strip() == "0":
        seconds = 0
    elif isinstance(value, str) and (found := _DURATION.fullmatch(value.strip())):
        seconds = int(found[1]) * _UNIT_SECONDS[found[2]]
    if seconds is None or seconds < 0 or seconds % 60:
        raise ValueError(f"{value!r} is not a duration: {_DURATION_RULE}")
    return seconds


def format_duration(seconds: int) -> str:
    """`3d`, `6h`, `5m` or `0`: the shortest way to write whole minutes."""
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return "0"


def _between(low: int, high: int) -> Callable[[int], int]:
    def check(seconds: int) -> int:
        if not low <= seconds <= high:
            raise ValueError(
                f"{format_duration(seconds)} is out of range: between "
                f"{format_duration(low)} and {format_duration(high)}"
            )
        return seconds

    return check


Duration = Annotated[
    int, BeforeValidator(parse_duration), AfterValidator(_between(0, MAX_WINDOW_SECONDS))
]
Window = Annotated[
    int, BeforeValidator(parse_duration), AfterValidator(_between(60, MAX_WINDOW_SECONDS))
]
RuleName = Annotated[
    str, Field(max_length=64), AfterValidator(matching(r"[a-z0-9][a-z0-9-]*", NAME_RULE))
]
EndpointName = Annotated[
    str, Field(max_length=128), AfterValidator(matching(r"[a-z0-9][a-z0-9-]*", NAME_RULE))
]
RuleKind = Annotated[str, AfterValidator(one_of("alert rule kind", ALERT_RULE_KINDS))]
Severity = Annotated[str, AfterValidator(one_of("severity", SEVERITIES))]
Metric = Annotated[str, AfterValidator(one_of("metric", THRESHOLD_METRICS))]
KeyPoolCondition = Annotated[str, AfterValidator(one_of("key pool condition", KEY_POOL_CONDITIONS))]
EventKind = Annotated[str, AfterValidator(one_of("event", EVENT_KINDS))]


class BurnPairSpec(Spec):
    """Fire when the error budget burns `factor` times too fast over both windows."""

    long: Window
    short: Window
    factor: float = Field(gt=0, le=1000)
    severity: Severity | None = None

    @model_validator(mode="after")
    def _short_inside_long(self) -> BurnPairSpec:
        if self.short >= self.long:
            raise ValueError(
                f"the short window ({format_duration(self.short)}) must be shorter than the "
                f"long one ({format_duration(self.long)}); the SRE workbook uses long/12"
            )
        return self


# The SRE workbook's pairs for a 30-day SLO: 2% of the budget in 1 h, 5% in 6 h (pages),
# 10% in 3 days (a ticket). sre.google/workbook/alerting-on-slos, table 5-8.
WORKBOOK_BURN_PAIRS: tuple[BurnPairSpec, ...] = (
    BurnPairSpec(long=3600, short=300, factor=14.4, severity="critical"),
    BurnPairSpec(long=21_600, short=1800, factor=6, severity="critical"),
    BurnPairSpec(long=259_200, short=21_600, factor=1, severity="warning"),
)
# Fields that belong to one kind of rule: (required, optional).
_KIND_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "threshold": (("metric", "window"), ("above", "below")),
    "burn_rate": (("objective",), ("pairs",)),
    "key_pool": (("condition",), ()),
    "event": (("events",), ()),
    "budget": (("percent",), ()),
}
_KIND_SPECIFIC = sorted({f for pair in _KIND_FIELDS.values() for group in pair for f in group})


class AlertRuleSpec(Spec):
    """One alert rule of a model; `endpoint` narrows it to one of the model's endpoints.

    Common: severity, `for` (how long the condition must hold before it fires),
    keep_firing_for (how long it keeps firing once the condition clears; 1h for event
    rules unless given), min_samples, escalation (delays before each next level) and
    ack_timeout (an acknowledgement expires back to firing after it).
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True
    )

    name: RuleName
    kind: RuleKind
    severity: Severity = "warning"
    endpoint: EndpointName | None = None
    summary: str = Field(default="", max_length=256)
    for_: Duration = Field(default=0, alias="for")
    keep_firing_for: Duration | None = None
    min_samples: int = Field(default=50, ge=1, le=1_000_000_000)
    escalation: list[Window] = Field(default_factory=list, max_length=5)
    ack_timeout: Window = 1800
    metric: Metric | None = None
    window: Window | None = None
    above: float | None = Field(default=None, ge=0)
    below: float | None = Field(default=None, ge=0)
    objective: float | None = Field(default=None, gt=0, lt=1)
    pairs: list[BurnPairSpec] | None = Field(default=None, min_length=1, max_length=6)
    condition: KeyPoolCondition | None = None
    events: list[EventKind] | None = Field(default=None, min_length=1)
    percent: float | None = Field(default=None, gt=0, le=1000)

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> AlertRuleSpec:
        required, optional = _KIND_FIELDS[self.kind]
        given = {name for name in _KIND_SPECIFIC if getattr(self, name) is not None}
        takes = f"{self.kind} rules take {', '.join(required + optional)}"
        if missing := [name for name in required if name not in given]:
            raise ValueError(f"{self.kind} rules need {', '.join(missing)}; {takes}")
        if stray := sorted(given - set(required) - set(optional)):
            raise ValueError(f"{', '.join(stray)} do not apply to {self.kind} rules; {takes}")
        if self.kind == "threshold":
            self._check_threshold()
        if self.kind == "burn_rate":
            self._check_burn_pairs()
        return self

    def _check_threshold(self) -> None:
        if (self.above is None) == (self.below is None):
            raise ValueError("a threshold rule fires above a value or below one: give one of them")
        limit = self.above if self.above is not None else self.below
        if self.metric == "error_rate" and limit is not None and limit > 1:
            raise ValueError(f"error_rate is a fraction of requests: 0 to 1 (got {limit})")

    def _check_burn_pairs(self) -> None:
        budget = 1 - float(self.objective or 0)
        for pair in self.burn_pairs:
            if pair.factor * budget >= 1:
                raise ValueError(
                    f"the {format_duration(pair.long)}/{format_duration(pair.short)} pair can "
                    f"never fire: {pair.factor:g} x (1 - {self.objective}) = "
                    f"{pair.factor * budget:.3g} of requests failing is more than all of them"
                )

    @property
    def burn_pairs(self) -> tuple[BurnPairSpec, ...]:
        return tuple(self.pairs) if self.pairs is not None else WORKBOOK_BURN_PAIRS

    @property
    def keep_firing_seconds(self) -> int:
        if self.keep_firing_for is not None:
            return self.keep_firing_for
        return 3600 if self.kind == "event" else 0

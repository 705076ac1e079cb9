"""The catalog file format: pydantic models of `providers/*.yaml` and `models/*.yaml`.

Every model forbids unknown keys, so a typo'd key is reported by name. Every text and
JSON field is bounded and free of control characters; numbers are finite.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Sequence
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_validator,
)

from registry.catalog_serving import ParametersSpec, PromptTemplate
from registry.json_document import JsonDocument
from registry.stages import Stage
from registry.text import PersonName, check_multi_line, check_single_line
from registry.usage.price_spec import PriceSpec

CATEGORIES: tuple[str, ...] = (
    "chat",
    "classification",
    "text-to-image",
    "image-to-image",
    "text-to-video",
    "image-to-video",
    "audio-to-video",
    "storyboard-to-video",
    "text-to-music",
    "speech-to-text",
    "text-to-speech",
)
PROVIDER_KINDS: tuple[str, ...] = (
    "local",
    "openai",
    "anthropic",
    "asyncgen",
    "replicate",
    "localmedia",
)
ROLLOUT_STRATEGIES: tuple[str, ...] = ("direct", "rolling", "canary", "blue-green", "shadow")
INCONCLUSIVE_ACTIONS: tuple[str, ...] = ("pause", "rollback")  # what an undecided step does
POLICY_STAGES: tuple[str, ...] = (Stage.TESTING.value, Stage.STAGING.value, Stage.PRODUCTION.value)
CHAMPION_TESTS: tuple[str, ...] = ("exact", "mid-p")  # registry.gates.ChampionTest

# Limits of free-form fields; names and URLs carry their own (matching their columns).
MAX_DESCRIPTION = 2000
MAX_APPROVERS = 32
MAX_ROLLOUT_STEPS = 20
MAX_PRICES = 100


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for a near miss among `choices`, else nothing."""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_of(what: str, allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            hint = did_you_mean(value, allowed)
            raise ValueError(
                f"{value!r} is not a known {what}{hint}; allowed: {', '.join(allowed)}"
            )
        return value

    return check


def _matching(pattern: str, rule: str) -> Callable[[str], str]:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not allowed: {rule}")
        return value

    return check


_NAME_RULE = "use lowercase letters, digits and '-', starting with a letter or digit"
_TEAM_RULE = "use lowercase letters, digits, '-' and '_', starting with a letter or digit"
ProviderName = Annotated[
    str, Field(max_length=64), AfterValidator(_matching(r"[a-z0-9][a-z0-9-]*", _NAME_RULE))
]
ModelName = Annotated[
    str, Field(max_length=128), AfterValidator(_matching(r"[a-z0-9][a-z0-9-]*", _NAME_RULE))
]
# Same rule as MODELOPS_TEAM, so every team the CLI can name can own models.
TeamName = Annotated[
    str,
    Field(max_length=64),
    AfterValidator(_matching(r"[a-z0-9][a-z0-9_-]*", _TEAM_RULE)),
]
_KEYS_HINT = "API keys are added with `modelops keys add PROVIDER` and stored encrypted"
# Option names that hold credentials: `api_key`, `token`, `client_secret`, …
_SECRET_OPTION = re.compile(r"(^|[_-])(api[_-]?key|key|secret|token|password|authorization)$")


def _check_base_url(value: str) -> str:
    not_a_url = ValueError(f"{value!r} is not an http(s) URL such as https://api.example.com/v1")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise not_a_url from None
    if parts.username or parts.password:
        # The value is not echoed: it holds a credential.
        raise ValueError(f"base_url must not carry credentials; {_KEYS_HINT}")
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", value):
        raise not_a_url
    return value


BaseUrl = Annotated[
    str,
    Field(max_length=512),
    AfterValidator(check_single_line),
    AfterValidator(_check_base_url),
]
ProviderModel = Annotated[
    str, Field(min_length=1, max_length=256), AfterValidator(check_single_line)
]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION), AfterValidator(check_multi_line)]
ProviderKind = Annotated[str, AfterValidator(_one_of("provider kind", PROVIDER_KINDS))]
Category = Annotated[str, AfterValidator(_one_of("category", CATEGORIES))]
Strategy = Annotated[str, AfterValidator(_one_of("rollout strategy", ROLLOUT_STRATEGIES))]
InconclusiveAction = Annotated[
    str, AfterValidator(_one_of("on_inconclusive action", INCONCLUSIVE_ACTIONS))
]
ChampionTestName = Annotated[str, AfterValidator(_one_of("champion test", CHAMPION_TESTS))]
Percent = Annotated[int, Field(ge=1, le=100)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class Spec(BaseModel):
    # Infinity and NaN have no JSON form, so the database could not store them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ProviderSpec(Spec):
    """One file of `providers/`: how to reach a provider."""

    name: ProviderName
    kind: ProviderKind
    base_url: BaseUrl | None = None
    options: JsonDocument = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _no_secrets(cls, options: dict[str, JsonValue]) -> dict[str, JsonValue]:
        secret = sorted(key for key in options if _SECRET_OPTION.search(key.lower()))
        if secret:
            raise ValueError(
                f"options {', '.join(secret)} look like credentials, which never belong "
                f"in the catalog; {_KEYS_HINT}"
            )
        return options


class CostSpec(Spec):
    """Price per 1,000 input and output tokens (or units), in US dollars."""

    input_per_1k: float = Field(default=0.0, ge=0)
    output_per_1k: float = Field(default=0.0, ge=0)


class GatesSpec(Spec):
    """Evaluation results a version needs before it may enter a stage; absent = no gate.

    `champion_test` picks the McNemar variant of `not_worse_than_champion`: "exact"
    (the default when absent) or "mid-p", which is less conservative at small counts.
    """

    min_accuracy: float | None = Field(default=None, gt=0, le=1)
    not_worse_than_champion: bool | None = None
    max_p95_latency_ms: float | None = Field(default=None, gt=0)
    max_error_rate: Fraction | None = None
    champion_test: ChampionTestName | None = None

    @field_validator("champion_test")
    @classmethod
    def _only_with_the_champion_gate(cls, test: str | None, info: ValidationInfo) -> str | None:
        if test is not None and not info.data.get("not_worse_than_champion"):
            raise ValueError(
                "champion_test chooses the test of not_worse_than_champion: "
                "set not_worse_than_champion: true, or leave champion_test out"
            )
        return test


class StagePolicySpec(Spec):
    """What entering one stage requires; stored as `registry.domain.StagePolicy`."""

    approvers: list[PersonName] = Field(default_factory=list, max_length=MAX_APPROVERS)
    min_approvals: int = Field(default=1, ge=1, le=MAX_APPROVERS)
    four_eyes: bool = False
    gates: GatesSpec = Field(default_factory=GatesSpec)

    @field_validator("approvers")
    @classmethod
    def _approvers_unique(cls, approvers: list[str]) -> list[str]:
        repeated = sorted({name for name in approvers if approvers.count(name) > 1})
        if repeated:
            raise ValueError(f"approvers are listed twice: {', '.join(repeated)}")
        return approvers

    @field_validator("min_approvals")
    @classmethod
    def _enough_approvers(cls, min_approvals: int, info: ValidationInfo) -> int:
        # Runs only when min_approvals is written down, so "no approvers" stays valid.
        approvers = info.data.get("approvers")
        if approvers is not None and min_approvals > len(approvers):
            listed = f"{len(approvers)} approver{'' if len(approvers) == 1 else 's'}"
            raise ValueError(
                f"min_approvals is {min_approvals} but the policy lists only {listed}; "
                "add approvers or lower min_approvals"
            )
        return min_approvals


class PolicySpec(Spec):
    """Per target stage; a stage left out has no gate and needs no approval."""

    testing: StagePolicySpec | None = None
    staging: StagePolicySpec | None = None
    production: StagePolicySpec | None = None


class RolloutSpec(Spec):
    """How a new version reaches traffic on an endpoint."""

    strategy: Strategy = "direct"
    steps: list[Percent] = Field(default_factory=lambda: [100], max_length=MAX_ROLLOUT_STEPS)
    bake_seconds: int = Field(default=300, ge=0, le=7 * 24 * 3600)
    min_samples: int = Field(default=500, ge=0, le=1_000_000_000)
    max_error_rate_increase: Fraction = 0.01
    # Latency margin on the mean, relative (0.2 = 20% slower); None: latency not compared.
    max_latency_increase_ratio: float | None = Field(default=None, ge=0, le=10)
    # Quality margin on the mean feedback score (higher is better); None: not compared.
    max_quality_decrease: float | None = Field(default=None, ge=0, le=1e6)
    # How long an undecided step keeps collecting before `on_inconclusive` applies.
    step_deadline_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    on_inconclusive: InconclusiveAction = "pause"
    # Absolute guards of every strategy (rolling has no others): the candidate's own error
    # rate and p95 latency over a step; None: no such guard.
    max_error_rate: Fraction | None = None
    max_p95_latency_ms: float | None = Field(default=None, gt=0, le=86_400_000)
    # blue-green: how long the old version stays warm after the switch, watched.
    rollback_window_seconds: int = Field(default=600, ge=0, le=7 * 24 * 3600)
    # shadow: the percent of requests mirrored to the candidate.
    shadow_percent: Percent = 10
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    # Looks a whole rollout may take; each is judged at alpha / max_looks, so judging
    # after every batch keeps the chance of rolling back a good version below alpha.
    max_looks: int = Field(default=50, ge=1, le=100_000)

    @field_validator("steps")
    @classmethod
    def _steps_climb_to_100(cls, steps: list[int], info: ValidationInfo) -> list[int]:
        if not steps or steps[-1] != 100:
            raise ValueError(f"steps must end at 100 (got {steps})")
        if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
            raise ValueError(f"steps must increase strictly (got {steps})")
        strategy = info.data.get("strategy")
        if strategy in ("direct", "blue-green") and steps != [100]:
            raise ValueError(
                f"strategy {strategy!r} moves all traffic at once: steps must be [100] (got "
                f"{steps})"
            )
        return steps


# -- alerts: the rules a model (or one of its endpoints) is watched by (registry/alerts) ------

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
    str, Field(max_length=64), AfterValidator(_matching(r"[a-z0-9][a-z0-9-]*", _NAME_RULE))
]
EndpointName = Annotated[
    str, Field(max_length=128), AfterValidator(_matching(r"[a-z0-9][a-z0-9-]*", _NAME_RULE))
]
RuleKind = Annotated[str, AfterValidator(_one_of("alert rule kind", ALERT_RULE_KINDS))]
Severity = Annotated[str, AfterValidator(_one_of("severity", SEVERITIES))]
Metric = Annotated[str, AfterValidator(_one_of("metric", THRESHOLD_METRICS))]
KeyPoolCondition = Annotated[
    str, AfterValidator(_one_of("key pool condition", KEY_POOL_CONDITIONS))
]
EventKind = Annotated[str, AfterValidator(_one_of("event", EVENT_KINDS))]


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


class ModelSpec(Spec):
    """One file of `models/`: a model a team ships, bound to a provider and a category."""

    name: ModelName
    team: TeamName
    provider: ProviderName
    base_model: ProviderModel
    category: Category
    description: Description = ""
    cost: CostSpec = Field(default_factory=CostSpec)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    alerts: list[AlertRuleSpec] = Field(default_factory=list, max_length=MAX_ALERT_RULES)
    # For consumers that execute the call themselves (the gateway's resolve hands them out).
    parameters: ParametersSpec = Field(default_factory=ParametersSpec)
    prompt_template: PromptTemplate | None = None
    # What outcomes cost (registry.usage): entries are append-only once synced.
    prices: list[PriceSpec] = Field(default_factory=list, max_length=MAX_PRICES)

    @field_validator("prices")
    @classmethod
    def _one_price_per_moment(cls, prices: list[PriceSpec]) -> list[PriceSpec]:
        seen = [(price.effective_from, price.versions_key) for price in prices]
        twice = sorted(
            {f"{at.isoformat()} ({key})" for at, key in seen if seen.count((at, key)) > 1}
        )
        if twice:
            raise ValueError(
                f"two prices take effect at the same moment for the same versions: "
                f"{', '.join(twice)}"
            )
        return prices

    @field_validator("alerts")
    @classmethod
    def _rule_names_unique(cls, rules: list[AlertRuleSpec]) -> list[AlertRuleSpec]:
        names = [rule.name for rule in rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"alert rules are named twice: {', '.join(repeated)}")
        return rules

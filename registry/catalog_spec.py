"""The catalog file format: pydantic models of `providers/*.yaml` and `models/*.yaml`.

A model's alert rules are in `registry.catalog_alerts`; the strict base model and the
checks every spec shares in `registry.catalog_fields`.

Every model forbids unknown keys, so a typo'd key is reported by name. Every text and
JSON field is bounded and free of control characters; numbers are finite.
"""

from __future__ import annotations

import itertools
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
)

from registry.catalog_alerts import MAX_ALERT_RULES, AlertRuleSpec
from registry.catalog_fields import NAME_RULE, Spec, matching, one_of
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


_TEAM_RULE = "use lowercase letters, digits, '-' and '_', starting with a letter or digit"
ProviderName = Annotated[
    str, Field(max_length=64), AfterValidator(matching(r"[a-z0-9][a-z0-9-]*", NAME_RULE))
]
ModelName = Annotated[
    str, Field(max_length=128), AfterValidator(matching(r"[a-z0-9][a-z0-9-]*", NAME_RULE))
]
# Same rule as MODELOPS_TEAM, so every team the CLI can name can own models.
TeamName = Annotated[
    str,
    Field(max_length=64),
    AfterValidator(matching(r"[a-z0-9][a-z0-9_-]*", _TEAM_RULE)),
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
ProviderKind = Annotated[str, AfterValidator(one_of("provider kind", PROVIDER_KINDS))]
Category = Annotated[str, AfterValidator(one_of("category", CATEGORIES))]
Strategy = Annotated[str, AfterValidator(one_of("rollout strategy", ROLLOUT_STRATEGIES))]
InconclusiveAction = Annotated[
    str, AfterValidator(one_of("on_inconclusive action", INCONCLUSIVE_ACTIONS))
]
ChampionTestName = Annotated[str, AfterValidator(one_of("champion test", CHAMPION_TESTS))]
Percent = Annotated[int, Field(ge=1, le=100)]
Fraction = Annotated[float, Field(ge=0, le=1)]


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

"""Recommendations from measured data, each with its evidence and the test that stands
behind it, never a hunch: a cheaper version shown non-inferior on the same traffic, an
endpoint shown to breach its SLO, a provider whose keys spent too much of the period
cooling, a production version no traffic reaches, a rollout left paused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import JsonValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.endpoints.domain import EndpointStatus
from registry.endpoints.tables import EndpointRow
from registry.errors import InvalidInputError
from registry.tables import ModelRow


class RecommendationKind(StrEnum):
    CHEAPER_VERSION = "cheaper_version"
    SLO_BREACH = "slo_breach"
    KEYS_SATURATED = "keys_saturated"
    IDLE_PRODUCTION = "idle_production"
    PAUSED_ROLLOUT = "paused_rollout"


@dataclass(frozen=True)
class Period:
    """[since, until): what the recommendations look at."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise InvalidInputError("the period must end after it starts", field="since")

    @property
    def days(self) -> float:
        return (self.until - self.since).total_seconds() / 86_400

    @property
    def minutes(self) -> tuple[datetime, datetime]:
        """The whole rollup minutes that cover the period (the last one may be running)."""
        since = self.since.replace(second=0, microsecond=0)
        until = self.until.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return since, until


@dataclass(frozen=True)
class Recommendation:
    kind: RecommendationKind
    subject: str  # what to act on: "endpoint support-prod", "provider openai", …
    title: str  # one line: what to do
    evidence: dict[str, JsonValue]  # the numbers
    test: str  # the test behind it, with its parameters and result
    monthly_saving_micro_usd: int | None = None


@dataclass(frozen=True)
class RecommendationPolicy:
    """Thresholds and margins; defaults documented in the README ("Recommendations")."""

    min_samples: int = 200  # per version, before comparing versions
    max_error_rate_increase: float = 0.01  # non-inferiority margins of a cheaper version
    max_latency_increase_ratio: float = 0.10
    max_quality_decrease: float = 0.02
    alpha: float = 0.05
    default_max_error_rate: float = 0.01  # an endpoint's SLO when its rules name none
    default_p95_ms: float = 2000.0
    max_cooling_share: float = 0.25  # of the period, averaged over a provider's keys
    max_paused_hours: float = 4.0  # a rollout paused longer than this is left paused


@dataclass(frozen=True)
class ServingEndpoint:
    id: int
    name: str
    model_id: int
    model: str
    rules: list[dict[str, JsonValue]] = field(default_factory=list)


Check = Callable[
    [Session, Team, Period, RecommendationPolicy, list[ServingEndpoint]], list[Recommendation]
]


def recommendations(
    session: Session,
    team: Team,
    period: Period,
    policy: RecommendationPolicy | None = None,
) -> list[Recommendation]:
    """Every recommendation the team's data supports for `period`, biggest saving first."""
    from registry.usage.recommend_idle import idle_production
    from registry.usage.recommend_keys import saturated_keys
    from registry.usage.recommend_paused import paused_rollouts
    from registry.usage.recommend_slo import slo_breaches
    from registry.usage.recommend_versions import cheaper_versions

    policy = policy or RecommendationPolicy()
    endpoints = serving_endpoints(session, team)
    checks: list[Check] = [
        cheaper_versions,
        slo_breaches,
        saturated_keys,
        idle_production,
        paused_rollouts,
    ]
    found = [r for check in checks for r in check(session, team, period, policy, endpoints)]
    return sorted(found, key=lambda r: (-(r.monthly_saving_micro_usd or 0), r.kind, r.subject))


def serving_endpoints(session: Session, team: Team) -> list[ServingEndpoint]:
    query = (
        select(EndpointRow.id, EndpointRow.name, ModelRow.id, ModelRow.name, ModelRow.alerts)
        .join(ModelRow, ModelRow.id == EndpointRow.model_id)
        .where(
            EndpointRow.team_id == team.id,
            EndpointRow.status == EndpointStatus.SERVING.value,
        )
        .order_by(EndpointRow.name)
    )
    return [
        ServingEndpoint(eid, name, mid, model, list(rules or []))
        for eid, name, mid, model, rules in session.execute(query)
    ]

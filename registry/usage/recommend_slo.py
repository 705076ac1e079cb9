"""An endpoint shown to breach its SLO over the period: its error rate above the objective,
or its p95 latency above the target, each by an exact one-sided binomial test (for p95:
more than 5% of requests surely slower than the target, counting only histogram buckets
that lie wholly above it). The SLO is the one the model's alert rules state (a threshold
on error_rate or latency_p95_ms, a burn-rate objective), else the policy's default."""

from __future__ import annotations

from pydantic import JsonValue
from sqlalchemy.orm import Session

from analysis.exceedance import Exceedance, binomial_exceedance
from registry.domain import Team
from registry.outcomes import LogHistogram, window_stats
from registry.outcomes.histogram import bucket_range_ms
from registry.usage.recommendations import (
    Period,
    Recommendation,
    RecommendationKind,
    RecommendationPolicy,
    ServingEndpoint,
)

P95 = 0.95


def slo_breaches(
    session: Session,
    team: Team,
    period: Period,
    policy: RecommendationPolicy,
    endpoints: list[ServingEndpoint],
) -> list[Recommendation]:
    found = []
    for endpoint in endpoints:
        stats = window_stats(session, team, endpoint.id, *period.minutes)
        if not stats:
            continue
        n = sum(s.errors.n for s in stats.values())
        errors = sum(s.errors.successes for s in stats.values())
        histogram = sum((s.latency_histogram for s in stats.values()), LogHistogram())
        max_error_rate, p95_ms = slo_of(endpoint, policy)
        error_test = binomial_exceedance(errors, n, max_error_rate, alpha=policy.alpha)
        if error_test.exceeded:
            found.append(_error_breach(endpoint, error_test, period))
        slow = sum(c for b, c in histogram.counts.items() if bucket_range_ms(b)[0] >= p95_ms)
        latency_test = binomial_exceedance(slow, histogram.n, 1 - P95, alpha=policy.alpha)
        if latency_test.exceeded:
            found.append(_latency_breach(endpoint, latency_test, histogram, p95_ms, period))
    return found


def slo_of(endpoint: ServingEndpoint, policy: RecommendationPolicy) -> tuple[float, float]:
    """(max error rate, p95 target in ms) from the model's rules for this endpoint."""
    error_rates: list[float] = []
    p95s: list[float] = []
    for rule in endpoint.rules:
        if rule.get("endpoint") not in (None, endpoint.name):
            continue
        above = _number(rule.get("above"))
        if rule.get("kind") == "threshold" and above is not None:
            if rule.get("metric") == "error_rate":
                error_rates.append(above)
            elif rule.get("metric") == "latency_p95_ms":
                p95s.append(above)
        objective = _number(rule.get("objective"))
        if rule.get("kind") == "burn_rate" and objective is not None:
            error_rates.append(1 - objective)
    return (
        min(error_rates, default=policy.default_max_error_rate),
        min(p95s, default=policy.default_p95_ms),
    )


def _number(value: JsonValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _error_breach(endpoint: ServingEndpoint, test: Exceedance, period: Period) -> Recommendation:
    return Recommendation(
        kind=RecommendationKind.SLO_BREACH,
        subject=f"endpoint {endpoint.name}",
        title=(
            f"{endpoint.name} breached its error-rate SLO: {test.share:.2%} of requests failed "
            f"(objective at most {test.limit:.2%}); look at its alerts and recent changes"
        ),
        evidence={
            "endpoint": endpoint.name,
            "metric": "error_rate",
            "requests": test.n,
            "errors": test.k,
            "error_rate": round(test.share, 6),
            "objective": test.limit,
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
        },
        test=(
            f"exact binomial test, one-sided: H0 error rate <= {test.limit:g}; "
            f"{test.k}/{test.n}, p = {test.p_value:.3g} < alpha {test.alpha:g}"
        ),
    )


def _latency_breach(
    endpoint: ServingEndpoint,
    test: Exceedance,
    histogram: LogHistogram,
    target_ms: float,
    period: Period,
) -> Recommendation:
    p95 = histogram.quantile(P95)
    estimate = None if p95 is None else round(p95.estimate_ms, 1)
    return Recommendation(
        kind=RecommendationKind.SLO_BREACH,
        subject=f"endpoint {endpoint.name}",
        title=(
            f"{endpoint.name} breached its latency SLO: p95 about {estimate} ms "
            f"(target {target_ms:g} ms); look at the provider's latency or a faster version"
        ),
        evidence={
            "endpoint": endpoint.name,
            "metric": "latency_p95_ms",
            "requests": test.n,
            "slower_than_target": test.k,
            "p95_ms_estimate": estimate,
            "target_ms": target_ms,
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
        },
        test=(
            f"exact binomial test, one-sided: H0 share slower than {target_ms:g} ms <= 5%; "
            f"{test.k}/{test.n} surely slower, p = {test.p_value:.3g} < alpha {test.alpha:g}"
        ),
    )

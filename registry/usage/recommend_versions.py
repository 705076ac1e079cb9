"""A cheaper version that is non-inferior on the same traffic: on one endpoint in one
period, a version whose cost per request is lower than the most-used version's, shown
(judge_canary's two one-sided tests) no worse on error rate, mean latency and, when both
carry scores, quality. The saving is the cost difference times the endpoint's traffic,
scaled to 30 days."""

from __future__ import annotations

from pydantic import JsonValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis import compare_means
from analysis.canary import CanaryPolicy, Verdict, VerdictStatus, judge_canary
from registry.domain import Team
from registry.outcomes import WindowStats, window_stats
from registry.tables import ModelVersionRow
from registry.usage.recommendations import (
    Period,
    Recommendation,
    RecommendationKind,
    RecommendationPolicy,
    ServingEndpoint,
)

MONTH_DAYS = 30


def cheaper_versions(
    session: Session,
    team: Team,
    period: Period,
    policy: RecommendationPolicy,
    endpoints: list[ServingEndpoint],
) -> list[Recommendation]:
    found = []
    for endpoint in endpoints:
        stats = window_stats(session, team, endpoint.id, *period.minutes)
        if len(stats) < 2:
            continue
        numbers = _version_numbers(session, set(stats))
        base_id = max(stats, key=lambda v: stats[v].requests)
        base = stats[base_id]
        total = sum(s.requests for s in stats.values())
        for version_id, candidate in stats.items():
            if version_id == base_id or not _cheaper(base, candidate, policy):
                continue
            verdict = judge_canary(
                base.arm_stats(), candidate.arm_stats(), _policy(base, candidate, policy)
            )
            if verdict.status is not VerdictStatus.PASS:
                continue
            found.append(
                _recommend(endpoint, numbers[base_id], numbers[version_id], base, candidate,
                           verdict, total, period)
            )  # fmt: skip
    return found


def _cheaper(base: WindowStats, candidate: WindowStats, policy: RecommendationPolicy) -> bool:
    """Enough traffic each, and a lower cost per request: shown by Welch's t, or exact when
    neither varies (prices per token with equal tokens)."""
    if min(base.requests, candidate.requests) < policy.min_samples:
        return False
    a, b = base.cost_per_request, candidate.cost_per_request
    if b.mean >= a.mean:
        return False
    if a.variance == 0 and b.variance == 0:
        return True
    return compare_means(a, b, alpha=policy.alpha, alternative="less").significant


def _policy(
    base: WindowStats, candidate: WindowStats, policy: RecommendationPolicy
) -> CanaryPolicy:
    scored = base.quality.n >= 2 and candidate.quality.n >= 2
    return CanaryPolicy(
        min_samples=policy.min_samples,
        max_error_rate_increase=policy.max_error_rate_increase,
        max_latency_increase_ratio=policy.max_latency_increase_ratio,
        max_quality_decrease=policy.max_quality_decrease if scored else None,
        alpha=policy.alpha,
    )


def _recommend(
    endpoint: ServingEndpoint,
    base_version: int,
    version: int,
    base: WindowStats,
    candidate: WindowStats,
    verdict: Verdict,
    total: int,
    period: Period,
) -> Recommendation:
    per_request = base.cost_per_request.mean - candidate.cost_per_request.mean
    saving = round(per_request * total * MONTH_DAYS / period.days)
    checks: dict[str, JsonValue] = {
        c.name.value: f"{c.outcome.value} ({c.detail})" for c in verdict.checks
    }
    return Recommendation(
        kind=RecommendationKind.CHEAPER_VERSION,
        subject=f"endpoint {endpoint.name}",
        title=(
            f"route {endpoint.name} to {endpoint.model} v{version} instead of v{base_version}: "
            f"non-inferior and cheaper, about {saving / 1e6:.2f} USD a month saved"
        ),
        evidence={
            "endpoint": endpoint.name,
            "model": endpoint.model,
            "baseline_version": base_version,
            "cheaper_version": version,
            "requests": {"baseline": base.requests, "cheaper": candidate.requests},
            "cost_per_request_micro_usd": {
                "baseline": round(base.cost_per_request.mean, 3),
                "cheaper": round(candidate.cost_per_request.mean, 3),
            },
            "error_rate": {"baseline": base.errors.mean, "cheaper": candidate.errors.mean},
            "latency_mean_ms": {
                "baseline": round(base.latency_ms.mean, 3),
                "cheaper": round(candidate.latency_ms.mean, 3),
            },
            "checks": checks,
            "period_requests": total,
            "period_days": round(period.days, 4),
        },
        test=(
            "judge_canary on the same traffic: two one-sided tests at alpha "
            f"{verdict.alpha_per_test:g}, error rate (Farrington-Manning, margin +1 pt), mean "
            "latency (Welch t, margin +10%), quality when scored (Welch t, margin -0.02); "
            "cost per request lower (Welch t, one-sided)"
        ),
        monthly_saving_micro_usd=saving,
    )


def _version_numbers(session: Session, ids: set[int]) -> dict[int, int]:
    query = select(ModelVersionRow.id, ModelVersionRow.version).where(ModelVersionRow.id.in_(ids))
    return {vid: number for vid, number in session.execute(query).tuples()}

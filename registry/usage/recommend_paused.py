"""A rollout left paused: it still owns its endpoint (no other rollout or A/B test can start
there, and the candidate keeps its share of traffic) while nobody decides."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from registry.domain import Team
from registry.rollouts.domain import DecisionKind, RolloutStatus
from registry.rollouts.repository import RolloutRepository
from registry.usage.recommendations import (
    Period,
    Recommendation,
    RecommendationKind,
    RecommendationPolicy,
    ServingEndpoint,
)


def paused_rollouts(
    session: Session,
    team: Team,
    period: Period,
    policy: RecommendationPolicy,
    endpoints: list[ServingEndpoint],
) -> list[Recommendation]:
    rollouts = RolloutRepository(session, team)
    left = timedelta(hours=policy.max_paused_hours)
    found = []
    for rollout in rollouts.list(status=RolloutStatus.PAUSED):
        pauses = [d for d in rollouts.decisions(rollout.id) if d.kind is DecisionKind.PAUSE]
        if not pauses or period.until - pauses[-1].at < left:
            continue
        paused = pauses[-1]
        hours = (period.until - paused.at).total_seconds() / 3600
        found.append(
            Recommendation(
                kind=RecommendationKind.PAUSED_ROLLOUT,
                subject=f"endpoint {rollout.endpoint}",
                title=(
                    f"rollout #{rollout.id} ({rollout.run_name}) has been paused for {hours:.1f} h "
                    f"at {rollout.weight}%: `modelops rollouts resume {rollout.id}` or "
                    f"`modelops rollouts abort {rollout.id}`"
                ),
                evidence={
                    "rollout": rollout.id,
                    "endpoint": rollout.endpoint,
                    "version": rollout.version,
                    "weight": rollout.weight,
                    "paused_at": paused.at.isoformat(),
                    "paused_by": paused.actor,
                    "reason": paused.reason,
                    "measurements": rollout.measurements,
                },
                test=(
                    f"measured: status paused since its decision #{paused.number} at "
                    f"{paused.at.isoformat()}, {hours:.1f} h before the period's end "
                    f"(left paused: over {policy.max_paused_hours:g} h)"
                ),
            )
        )
    return found

"""A provider whose keys spent more than a set share of the period cooling (rate limited,
quota, overload): measured from the key event log, each key's cooling intervals merged and
clipped to the period, the share averaged over the provider's keys."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.keys.domain import KeyEventKind
from registry.keys.tables import KeyEventRow, ProviderKeyRow
from registry.tables import ProviderRow
from registry.usage.recommendations import (
    Period,
    Recommendation,
    RecommendationKind,
    RecommendationPolicy,
    ServingEndpoint,
)

LONGEST_COOLDOWN = timedelta(days=7)  # a cooling that began this long before still counts


def saturated_keys(
    session: Session,
    team: Team,
    period: Period,
    policy: RecommendationPolicy,
    endpoints: list[ServingEndpoint],
) -> list[Recommendation]:
    keys = session.execute(
        select(ProviderKeyRow.id, ProviderKeyRow.label, ProviderRow.name)
        .join(ProviderRow, ProviderRow.id == ProviderKeyRow.provider_id)
        .where(ProviderKeyRow.team_id == team.id)
    ).tuples()
    by_provider: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for key_id, label, provider in keys:
        by_provider[provider].append((key_id, label))
    cooling = _cooling_intervals(session, team, period)
    seconds = (period.until - period.since).total_seconds()
    found = []
    for provider, provider_keys in sorted(by_provider.items()):
        shares = {
            label: _covered(cooling.get(key_id, []), period) / seconds
            for key_id, label in provider_keys
        }
        mean = sum(shares.values()) / len(shares)
        if mean > policy.max_cooling_share:
            found.append(_recommend(provider, shares, mean, policy, period))
    return found


def _cooling_intervals(
    session: Session, team: Team, period: Period
) -> dict[int, list[tuple[datetime, datetime]]]:
    rows = session.execute(
        select(KeyEventRow.key_id, KeyEventRow.at, KeyEventRow.detail).where(
            KeyEventRow.team_id == team.id,
            KeyEventRow.kind == KeyEventKind.COOLED.value,
            KeyEventRow.at < period.until,
            KeyEventRow.at >= period.since - LONGEST_COOLDOWN,
        )
    ).tuples()
    found: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for key_id, at, detail in rows:
        until = detail.get("until") if isinstance(detail, dict) else None
        if isinstance(until, str):
            found[key_id].append((at, datetime.fromisoformat(until)))
    return found


def _covered(intervals: list[tuple[datetime, datetime]], period: Period) -> float:
    """Seconds of the period inside the union of the intervals."""
    total, reach = 0.0, period.since
    for start, end in sorted(intervals):
        start, end = max(start, reach), min(end, period.until)
        if end > start:
            total += (end - start).total_seconds()
            reach = end
    return total


def _recommend(
    provider: str,
    shares: dict[str, float],
    mean: float,
    policy: RecommendationPolicy,
    period: Period,
) -> Recommendation:
    return Recommendation(
        kind=RecommendationKind.KEYS_SATURATED,
        subject=f"provider {provider}",
        title=(
            f"{provider}'s keys spent {mean:.0%} of the period cooling (rate limited or out of "
            f"quota): add a key (`modelops keys add {provider}`) or raise the provider's limits"
        ),
        evidence={
            "provider": provider,
            "keys": len(shares),
            "cooling_share_by_key": {label: round(s, 4) for label, s in sorted(shares.items())},
            "mean_cooling_share": round(mean, 4),
            "threshold": policy.max_cooling_share,
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
        },
        test=(
            "measured: each key's cooling intervals (key_events 'cooled', until its deadline) "
            f"merged and clipped to the period; mean share {mean:.3f} > "
            f"{policy.max_cooling_share:g}"
        ),
    )

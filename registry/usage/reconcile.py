"""The check that daily usage adds up: a day recomputed from raw outcomes, compared row by
row with what was folded. Reads a day of `outcomes` (its BRIN index on `at`), so it is a
scheduled check, never a query behind a page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.outcomes.tables import OutcomeRow
from registry.usage.daily import NO_KEY, SUM_COLUMNS
from registry.usage.tables import DailyUsageRow

GroupKey = tuple[int, int, int]  # endpoint, version, key


@dataclass(frozen=True)
class UsageDifference:
    endpoint_id: int
    model_version_id: int
    provider_key_id: int
    column: str
    folded: int
    recomputed: int


@dataclass(frozen=True)
class Reconciliation:
    day: date
    groups: int  # (endpoint, version, key) groups seen on either side
    requests: int  # recomputed from raw outcomes
    cost_micro_usd: int
    differences: tuple[UsageDifference, ...]

    @property
    def equal(self) -> bool:
        return not self.differences


def reconcile_day(session: Session, team: Team, day: date) -> Reconciliation:
    """Recompute `day` (UTC) from the team's raw outcomes; every counter that differs from
    `daily_usage` is a difference."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    raw = _recomputed(session, team, start, start + timedelta(days=1))
    folded = _folded(session, team, day)
    differences = [
        UsageDifference(*key, column, folded.get(key, _zeros())[i], raw.get(key, _zeros())[i])
        for key in sorted(set(raw) | set(folded))
        for i, column in enumerate(SUM_COLUMNS)
        if folded.get(key, _zeros())[i] != raw.get(key, _zeros())[i]
    ]
    return Reconciliation(
        day=day,
        groups=len(set(raw) | set(folded)),
        requests=sum(sums[0] for sums in raw.values()),
        cost_micro_usd=sum(sums[5] for sums in raw.values()),
        differences=tuple(differences),
    )


def _zeros() -> tuple[int, ...]:
    return (0,) * len(SUM_COLUMNS)


def _recomputed(
    session: Session, team: Team, start: datetime, end: datetime
) -> dict[GroupKey, tuple[int, ...]]:
    o = OutcomeRow
    key = func.coalesce(o.provider_key_id, NO_KEY)
    query = (
        select(
            o.endpoint_id,
            o.model_version_id,
            key,
            func.count(),
            func.sum(case((o.success, 0), else_=1)),
            func.sum(o.input_tokens),
            func.sum(o.output_tokens),
            func.sum(o.cached_input_tokens),
            func.sum(o.cost_micro_usd),
        )
        .where(o.team_id == team.id, o.at >= start, o.at < end)
        .group_by(o.endpoint_id, o.model_version_id, key)
    )
    return {
        (int(row[0]), int(row[1]), int(row[2])): tuple(int(v or 0) for v in row[3:])
        for row in session.execute(query)
    }


def _folded(session: Session, team: Team, day: date) -> dict[GroupKey, tuple[int, ...]]:
    u = DailyUsageRow
    query = select(u).where(u.team_id == team.id, u.day == day)
    return {
        (row.endpoint_id, row.model_version_id, row.provider_key_id): tuple(
            int(getattr(row, name)) for name in SUM_COLUMNS
        )
        for row in session.scalars(query)
    }

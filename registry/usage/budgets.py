"""Budgets: a spending limit per team or model, per UTC day or month, soft or hard; what
each has spent of its current period (from daily usage), and soft budgets' crossings,
recorded once per period with a `budget.crossed` event for the alert channels."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from registry.alerts.events import emit
from registry.domain import Team
from registry.errors import InvalidInputError, NotFoundError, translate_database_errors
from registry.tables import ModelRow, ModelVersionRow
from registry.usage.tables import (
    BudgetAllowanceRow,
    BudgetCrossingRow,
    BudgetKind,
    BudgetPeriod,
    BudgetRow,
    BudgetScope,
    DailyUsageRow,
)

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
MAX_LIMIT_USD = Decimal(10**9)
MICRO = 1_000_000


@dataclass(frozen=True)
class Budget:
    id: int
    team_id: int
    name: str
    scope: BudgetScope
    model: str | None
    model_id: int | None
    period: BudgetPeriod
    kind: BudgetKind
    limit_micro_usd: int

    def applies_to(self, model_id: int) -> bool:
        return self.model_id is None or self.model_id == model_id


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    period_start: date
    period_end: datetime  # exclusive: when the next period starts
    spent_micro_usd: int

    @property
    def fraction(self) -> float:
        return self.spent_micro_usd / self.budget.limit_micro_usd

    @property
    def exhausted(self) -> bool:
        return self.spent_micro_usd >= self.budget.limit_micro_usd


def period_bounds(period: BudgetPeriod, at: datetime) -> tuple[date, datetime]:
    """The UTC period holding `at`: its first day, and the instant the next one starts."""
    day = at.astimezone(UTC).date()
    if period is BudgetPeriod.DAY:
        return day, datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, datetime.combine(following, time(), tzinfo=UTC)


def parse_limit(text: str) -> int:
    """US dollars (`25`, `0.50`) as integer micro-USD; at most 6 decimals."""
    try:
        usd = Decimal(text)
    except InvalidOperation:
        usd = Decimal(-1)
    if not usd.is_finite() or not 0 < usd <= MAX_LIMIT_USD or (usd * MICRO) % 1:
        raise InvalidInputError(
            f"the limit must be US dollars above 0 and at most {MAX_LIMIT_USD}, with at most "
            f"6 decimals (such as 25 or 0.50), got {text[:40]!r}",
            field="limit",
        )
    return int(usd * MICRO)


class BudgetRepository:
    """The team's budgets; never commits (the caller owns the transaction)."""

    def __init__(self, session: Session, team: Team) -> None:
        self._session = session
        self._team = team

    def set(
        self, name: str, limit_micro_usd: int, period: str, kind: str, model: str | None, actor: str
    ) -> Budget:
        """Create the budget, or change its limit, period, kind and scope."""
        if not NAME.fullmatch(name):
            raise InvalidInputError(
                f"budget name {name[:70]!r}: use 1-64 lowercase letters, digits and '-'",
                field="name",
            )
        checked_period, checked_kind = _period(period), _kind(kind)
        model_id = None if model is None else self._model_id(model)
        row = self._row(name) or BudgetRow(team_id=self._team.id, name=name, created_by=actor)
        row.scope = (BudgetScope.TEAM if model_id is None else BudgetScope.MODEL).value
        row.model_id = model_id
        row.period = checked_period.value
        row.kind = checked_kind.value
        row.limit_micro_usd = limit_micro_usd
        with translate_database_errors(f"setting budget {name}"):
            self._session.add(row)
            self._session.flush()
        return self._budget(row, model)

    def all(self) -> list[Budget]:
        query = (
            select(BudgetRow, ModelRow.name)
            .outerjoin(ModelRow, ModelRow.id == BudgetRow.model_id)
            .where(BudgetRow.team_id == self._team.id)
            .order_by(BudgetRow.name)
        )
        return [self._budget(row, model) for row, model in self._session.execute(query)]

    def remove(self, name: str) -> None:
        row = self._row(name)
        if row is None:
            raise NotFoundError(f"team {self._team.name!r} has no budget {name[:70]!r}")
        for table in (BudgetAllowanceRow, BudgetCrossingRow):
            self._session.execute(delete(table).where(table.budget_id == row.id))
        self._session.delete(row)
        self._session.flush()

    def statuses(self, at: datetime) -> list[BudgetStatus]:
        return [budget_status(self._session, budget, at) for budget in self.all()]

    def _row(self, name: str) -> BudgetRow | None:
        return self._session.scalar(
            select(BudgetRow).where(BudgetRow.team_id == self._team.id, BudgetRow.name == name)
        )

    def _model_id(self, model: str) -> int:
        found = self._session.scalar(
            select(ModelRow.id).where(ModelRow.team_id == self._team.id, ModelRow.name == model)
        )
        if found is None:
            raise InvalidInputError(
                f"team {self._team.name!r} has no model {model[:70]!r}", field="model"
            )
        return found

    @staticmethod
    def _budget(row: BudgetRow, model: str | None) -> Budget:
        return Budget(
            id=row.id,
            team_id=row.team_id,
            name=row.name,
            scope=BudgetScope(row.scope),
            model=model,
            model_id=row.model_id,
            period=BudgetPeriod(row.period),
            kind=BudgetKind(row.kind),
            limit_micro_usd=row.limit_micro_usd,
        )


def budget_status(session: Session, budget: Budget, at: datetime) -> BudgetStatus:
    start, end = period_bounds(budget.period, at)
    return BudgetStatus(budget, start, end, spent_in(session, budget, start, end.date()))


def spent_in(session: Session, budget: Budget, first: date, end: date) -> int:
    """Micro-USD the budget's scope spent on days [first, end), from daily usage."""
    u = DailyUsageRow
    query = select(func.coalesce(func.sum(u.cost_micro_usd), 0)).where(
        u.team_id == budget.team_id, u.day >= first, u.day < end
    )
    if budget.model_id is not None:
        versions = select(ModelVersionRow.id).where(ModelVersionRow.model_id == budget.model_id)
        query = query.where(u.model_version_id.in_(versions))
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class Crossing:
    status: BudgetStatus
    event_id: int  # the `budget.crossed` event the alert channels hear


def record_crossings(session: Session, team: Team, at: datetime) -> list[Crossing]:
    """Soft budgets spent through in their current period and not recorded yet: recorded
    (once per period: the crossing's key), each with a `budget.crossed` event."""
    crossed = []
    for status in BudgetRepository(session, team).statuses(at):
        budget = status.budget
        if budget.kind is not BudgetKind.SOFT or not status.exhausted:
            continue
        key = (budget.id, status.period_start)
        if session.get(BudgetCrossingRow, key) is not None:
            continue
        session.add(
            BudgetCrossingRow(
                budget_id=budget.id,
                period_start=status.period_start,
                spent_micro_usd=status.spent_micro_usd,
                crossed_at=at,
            )
        )
        session.flush()
        labels, annotations = _labels(status), _annotations(status)
        event = emit(session, team, "budget.crossed", "warning", labels, annotations, at=at)
        crossed.append(Crossing(status, event.id))
    return crossed


def _labels(status: BudgetStatus) -> dict[str, str]:
    labels = {"budget": status.budget.name, "period": status.period_start.isoformat()}
    if status.budget.model is not None:
        labels["model"] = status.budget.model
    return labels


def _annotations(status: BudgetStatus) -> dict[str, str]:
    b = status.budget
    scope = f"model {b.model}" if b.model else "the team"
    return {
        "summary": f"budget {b.name} spent: {status.spent_micro_usd / MICRO:.2f} of "
        f"{b.limit_micro_usd / MICRO:.2f} USD this {b.period.value}",
        "description": f"{scope} spent {status.fraction:.0%} of its soft {b.period.value} "
        f"budget since {status.period_start}",
    }


def _period(value: str) -> BudgetPeriod:
    try:
        return BudgetPeriod(value)
    except ValueError:
        raise _not_one_of("period", value, BudgetPeriod) from None


def _kind(value: str) -> BudgetKind:
    try:
        return BudgetKind(value)
    except ValueError:
        raise _not_one_of("kind", value, BudgetKind) from None


def _not_one_of(
    field: str, value: str, allowed: type[BudgetPeriod] | type[BudgetKind]
) -> InvalidInputError:
    names = ", ".join(v.value for v in allowed)
    return InvalidInputError(f"{field} {value[:40]!r} is not one of {names}", field=field)

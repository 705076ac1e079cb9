"""Hard budgets across gateway replicas: each replica admits requests against an allowance
it claimed from the budget's period, so the replicas together never admit more than the
limit; what they overshoot by is only the cost of requests in flight when an allowance ran
out (README, "Budgets"). A claim is one short transaction on the period's row, taken only
when a replica's allowance runs low, never per request."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.errors import translate_database_errors
from registry.orm import utcnow
from registry.upsert import conflict_insert
from registry.usage.budgets import Budget, BudgetRepository, period_bounds, spent_in
from registry.usage.tables import BudgetAllowanceRow, BudgetKind, BudgetRow


def claim_allowance(session: Session, budget: Budget, at: datetime, chunk: int) -> int:
    """Up to `chunk` micro-USD more of the budget's current period for the caller to admit
    requests against; 0 when the period is spent. The base is what was granted already or
    what daily usage shows spent, whichever is more (spend no gateway admitted, such as
    consumers' reports, counts too)."""
    start, end = period_bounds(budget.period, at)
    with translate_database_errors(f"claiming budget {budget.name}"):
        row = _locked(session, budget.id, start)
        spent = spent_in(session, budget, start, end.date())
        base = max(row.granted_micro_usd, spent)
        grant = max(0, min(chunk, budget.limit_micro_usd - base))
        row.granted_micro_usd = base + grant
        row.updated_at = utcnow()
        session.flush()
    return grant


def release_allowance(session: Session, budget_id: int, period_start: date, unspent: int) -> None:
    """Give back what a replica claimed and did not spend (it is shutting down)."""
    with translate_database_errors("releasing a budget allowance"):
        row = session.get(BudgetAllowanceRow, (budget_id, period_start), with_for_update=True)
        if row is not None and unspent > 0:
            row.granted_micro_usd = max(0, row.granted_micro_usd - unspent)
            session.flush()


def hard_budgets(session: Session) -> list[Budget]:
    """Every team's hard budgets (what a gateway enforces)."""
    query = select(BudgetRow.team_id).where(BudgetRow.kind == BudgetKind.HARD.value).distinct()
    teams = list(session.scalars(query))
    found: list[Budget] = []
    for team_id in teams:
        budgets = BudgetRepository(session, Team(id=team_id, name=f"team {team_id}")).all()
        found += [b for b in budgets if b.kind is BudgetKind.HARD]
    return found


def _locked(session: Session, budget_id: int, start: date) -> BudgetAllowanceRow:
    values = {
        "budget_id": budget_id,
        "period_start": start,
        "granted_micro_usd": 0,
        "updated_at": utcnow(),
    }
    insert = conflict_insert(session, BudgetAllowanceRow)
    session.execute(insert.values(**values).on_conflict_do_nothing())
    row = session.get(
        BudgetAllowanceRow, (budget_id, start), with_for_update=True, populate_existing=True
    )
    assert row is not None
    return row


__all__ = ["claim_allowance", "hard_budgets", "release_allowance"]

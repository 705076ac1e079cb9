"""Hard budgets on the request path: admit a request while this replica holds allowance for
every hard budget over it (its team's, its model's), refuse with a 429 naming the budget
once a period is spent. Allowances are claimed off the request path (when one runs low)
from `registry.usage.allowances`, so the replicas together admit at most the limit; the
request path waits on the database only when an allowance ran out entirely.

Spend is charged when an outcome is recorded; budgets are re-read every `refresh_seconds`,
which also lets an exhausted period be claimed again (a raised limit, a released share).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import ApiError
from registry.orm import utcnow
from registry.usage.allowances import claim_allowance, hard_budgets, release_allowance
from registry.usage.budgets import Budget, period_bounds

log = logging.getLogger("gateway.budgets")
CHUNK_FRACTION = 0.05  # of the limit, claimed at a time
MICRO = 1_000_000


@dataclass
class Allowance:
    """This replica's share of one budget's period: claimed, minus what it spent."""

    remaining: int = 0
    claimed: int = 0
    exhausted: bool = False  # the last claim got nothing
    unreachable: bool = False  # the last claim failed: the database is away
    claiming: asyncio.Task[None] | None = None


@dataclass
class BudgetGuard:
    sessions: sessionmaker[Session]
    refresh_seconds: float
    chunk_fraction: float = CHUNK_FRACTION
    clock: Callable[[], datetime] = utcnow
    _budgets: dict[int, list[Budget]] = field(default_factory=dict)  # by team id
    _allowances: dict[tuple[int, date], Allowance] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._refresh_loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        unspent = [(key, a.remaining) for key, a in self._allowances.items() if a.remaining > 0]
        if unspent:
            try:
                await asyncio.to_thread(self._release, unspent)
            except Exception as exc:  # a share left claimed only refuses early, never late
                log.warning("releasing budget allowances failed: %s", type(exc).__name__)

    async def reload(self) -> None:
        budgets = await asyncio.to_thread(self._read)
        grouped: dict[int, list[Budget]] = {}
        for budget in budgets:
            grouped.setdefault(budget.team_id, []).append(budget)
        self._budgets = grouped
        now = self.clock()
        current = {(b.id, period_bounds(b.period, now)[0]) for b in budgets}
        for key in [k for k in self._allowances if k not in current]:
            del self._allowances[key]  # a past period, or a budget removed
        for allowance in self._allowances.values():
            allowance.exhausted = False  # claim again: the limit may have been raised

    # -- the request path -------------------------------------------------------------------

    async def admit(self, team_id: int, model_id: int) -> None:
        """Return if every hard budget over the request has allowance left; else raise the
        429 naming the first budget that is spent."""
        budgets = self._budgets.get(team_id)
        if not budgets:
            return
        now = self.clock()
        for budget in budgets:
            if not budget.applies_to(model_id):
                continue
            start, end = period_bounds(budget.period, now)
            allowance = self._allowances.setdefault((budget.id, start), Allowance())
            if allowance.remaining <= 0 and not allowance.exhausted:
                await self._claim(budget, allowance, now)
            elif allowance.remaining < self._chunk(budget) // 2 and not allowance.exhausted:
                self._claim_soon(budget, allowance, now)  # refill off the request path
            if allowance.remaining <= 0:
                raise _unreachable(budget) if allowance.unreachable else _spent(budget, end, now)

    def charge(self, team_id: int, model_id: int, cost_micro_usd: int) -> None:
        """Count a recorded outcome's cost against this replica's allowances."""
        budgets = self._budgets.get(team_id)
        if not budgets or cost_micro_usd <= 0:
            return
        now = self.clock()
        for budget in budgets:
            if budget.applies_to(model_id):
                start, _ = period_bounds(budget.period, now)
                allowance = self._allowances.setdefault((budget.id, start), Allowance())
                allowance.remaining -= cost_micro_usd

    # -- claims -----------------------------------------------------------------------------

    def _chunk(self, budget: Budget) -> int:
        return max(1, int(budget.limit_micro_usd * self.chunk_fraction))

    async def _claim(self, budget: Budget, allowance: Allowance, now: datetime) -> None:
        self._claim_soon(budget, allowance, now)
        assert allowance.claiming is not None
        await asyncio.shield(allowance.claiming)

    def _claim_soon(self, budget: Budget, allowance: Allowance, now: datetime) -> None:
        if allowance.claiming is not None and not allowance.claiming.done():
            return

        async def claim() -> None:
            try:
                granted = await asyncio.to_thread(self._claim_now, budget, now)
            except Exception as exc:
                # The database is away: admit on what is left, claim again next time.
                log.warning("claiming budget %s failed: %s", budget.name, type(exc).__name__)
                allowance.unreachable = True
                return
            allowance.unreachable = False
            allowance.remaining += granted
            allowance.claimed += granted
            allowance.exhausted = granted == 0

        allowance.claiming = asyncio.create_task(claim())

    def _claim_now(self, budget: Budget, now: datetime) -> int:
        with self.sessions.begin() as session:
            return claim_allowance(session, budget, now, self._chunk(budget))

    def _read(self) -> list[Budget]:
        with self.sessions.begin() as session:
            return hard_budgets(session)

    def _release(self, unspent: list[tuple[tuple[int, date], int]]) -> None:
        with self.sessions.begin() as session:
            for (budget_id, start), amount in unspent:
                release_allowance(session, budget_id, start, amount)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.reload()
            except Exception as exc:  # keep enforcing what was read last
                log.warning("re-reading budgets failed: %s", type(exc).__name__)


def _unreachable(budget: Budget) -> ApiError:
    return ApiError(
        503,
        f"the gateway cannot reach its database to check budget {budget.name!r}; retry shortly",
        type="upstream_error",
        code="database_unavailable",
        headers={"retry-after": "1"},
    )


def _spent(budget: Budget, end: datetime, now: datetime) -> ApiError:
    scope = f"model {budget.model}" if budget.model else "the team"
    wait = max(1, int((end - now).total_seconds()) + 1)
    return ApiError(
        429,
        f"budget {budget.name!r} is spent: {scope} may spend "
        f"{budget.limit_micro_usd / MICRO:.2f} USD per {budget.period.value}, and requests are "
        f"refused until {end:%Y-%m-%dT%H:%MZ} (`modelops budgets list` shows it)",
        type="insufficient_quota",
        code="budget_exceeded",
        headers={"retry-after": str(wait)},
    )

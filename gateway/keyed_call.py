"""One provider call through the key pool: failover, cooldowns and one time budget.

The budget covers every attempt and every wait together. A free key is tried at
once; the call sleeps only when no key is free, until the first cooling key frees
up (Retry-After honoured) or for a jittered exponential backoff. Request-scoped
errors are never retried. Every outcome is recorded in the pool, so other
processes see the same cooldowns.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Credential
from adapters.errors import FaultScope, ProviderError, ProviderTimeoutError, RateLimitedError
from registry.domain import Team
from registry.keys.crypto import MasterKeyring
from registry.keys.domain import KeyOutcome, LeasedKey
from registry.keys.errors import NoKeyAvailableError
from registry.keys.pool import KeyPool

T = TypeVar("T")

OUTCOME_BY_SCOPE: dict[FaultScope, KeyOutcome] = {
    FaultScope.KEY: KeyOutcome.KEY_SCOPED,
    FaultScope.RATE_LIMIT: KeyOutcome.RATE_LIMITED,
    FaultScope.MODEL: KeyOutcome.MODEL_SCOPED,
    FaultScope.REQUEST: KeyOutcome.REQUEST_SCOPED,
    FaultScope.TRANSIENT: KeyOutcome.TRANSIENT,
}


@dataclass(frozen=True)
class Attempt:
    """One try with one key, as `providers check` reports it."""

    key_id: int
    label: str
    last4: str
    outcome: str  # "success" or a KeyOutcome value
    detail: str
    seconds: float


@dataclass
class KeyedResult(Generic[T]):
    value: T
    key: LeasedKey | None  # None for providers that need no key
    attempts: list[Attempt]


class BudgetExhaustedError(Exception):
    """No attempt succeeded within the call's time budget; `attempts` says what happened."""

    def __init__(self, message: str, attempts: list[Attempt]) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass
class CallPolicy:
    budget_seconds: float = 60.0
    base_backoff: float = 0.5
    max_backoff: float = 8.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, round_number: int) -> float:
        """Full-jitter exponential backoff, so many callers do not retry in step."""
        ceiling = min(self.max_backoff, self.base_backoff * 2**round_number)
        return self.rng.uniform(ceiling / 2, ceiling)


@dataclass
class KeyedCaller:
    """Makes calls of one team to one provider (and model) through the pool."""

    sessions: sessionmaker[Session]
    team: Team
    keyring: MasterKeyring
    provider: str
    model: str | None = None
    policy: CallPolicy = field(default_factory=CallPolicy)

    async def call(self, operation: Callable[[Credential], Awaitable[T]]) -> KeyedResult[T]:
        deadline = self.policy.clock() + self.policy.budget_seconds
        attempts: list[Attempt] = []
        tried: set[int] = set()
        rounds = 0
        while True:
            lease = await self._lease_or_wait(deadline, tried, attempts, rounds)
            if lease is None:  # waited for a key to free up; start a new round
                tried.clear()
                rounds += 1
                continue
            outcome = await self._attempt(lease, operation, deadline, attempts)
            if not isinstance(outcome, ProviderError):
                return KeyedResult(value=outcome[0], key=lease, attempts=attempts)
            if outcome.scope is FaultScope.REQUEST:
                raise outcome  # the request is wrong: another key will not fix it
            tried.add(lease.key_id)

    async def _lease_or_wait(
        self, deadline: float, tried: set[int], attempts: list[Attempt], rounds: int
    ) -> LeasedKey | None:
        try:
            return await asyncio.to_thread(self._acquire, tried)
        except NoKeyAvailableError as exc:
            wait = self._wait_for(exc, tried, rounds)
            remaining = deadline - self.policy.clock()
            if wait is None or wait > remaining:
                message = _exhausted_message(exc, wait, remaining)
                raise BudgetExhaustedError(message, attempts) from exc
            await self.policy.sleep(wait)
            return None

    def _wait_for(self, exc: NoKeyAvailableError, tried: set[int], rounds: int) -> float | None:
        """Seconds to sleep before another round, or None if waiting cannot help."""
        if exc.first_free_at is not None:
            return exc.retry_after_seconds(datetime.now(UTC))
        # Keys excluded only because they failed transiently this round may work again.
        return self.policy.backoff(rounds) if tried else None

    def _acquire(self, tried: set[int]) -> LeasedKey:
        with self.sessions.begin() as session:
            pool = KeyPool(session, self.team, self.keyring)
            return pool.acquire(self.provider, model=self.model, exclude=set(tried))

    async def _attempt(
        self,
        lease: LeasedKey,
        operation: Callable[[Credential], Awaitable[T]],
        deadline: float,
        attempts: list[Attempt],
    ) -> tuple[T] | ProviderError:
        started = self.policy.clock()
        credential = Credential(api_key=lease.credential, key_id=str(lease.key_id))
        try:
            async with asyncio.timeout(max(0.001, deadline - started)):
                value = await operation(credential)
        except TimeoutError:
            error: ProviderError = ProviderTimeoutError(
                "no answer within the call's time budget", provider=self.provider
            )
        except ProviderError as exc:
            error = exc
        else:
            elapsed = self.policy.clock() - started
            await asyncio.to_thread(self._record_success, lease.key_id, elapsed)
            attempts.append(_attempt_row(lease, "success", "ok", elapsed))
            return (value,)
        elapsed = self.policy.clock() - started
        await asyncio.to_thread(self._record_failure, lease.key_id, error)
        outcome = OUTCOME_BY_SCOPE[error.scope].value
        attempts.append(_attempt_row(lease, outcome, str(error), elapsed))
        return error

    def _record_success(self, key_id: int, seconds: float) -> None:
        with self.sessions.begin() as session:
            KeyPool(session, self.team, self.keyring).record_success(
                key_id, latency_ms=seconds * 1000
            )

    def _record_failure(self, key_id: int, error: ProviderError) -> None:
        retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
        with self.sessions.begin() as session:
            KeyPool(session, self.team, self.keyring).record_failure(
                key_id,
                OUTCOME_BY_SCOPE[error.scope],
                retry_after=retry_after,
                reason=str(error),
                model=self.model,
            )


def _attempt_row(lease: LeasedKey, outcome: str, detail: str, seconds: float) -> Attempt:
    return Attempt(lease.key_id, lease.label, lease.last4, outcome, detail, round(seconds, 3))


def _exhausted_message(exc: NoKeyAvailableError, wait: float | None, remaining: float) -> str:
    if wait is None:
        return str(exc)
    left = max(0.0, remaining)
    return f"{exc}; that is {wait:.1f}s away, beyond the call's remaining budget of {left:.1f}s"

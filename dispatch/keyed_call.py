"""One provider call through the key pool: failover, cooldowns and one time budget.

The budget covers every attempt and every wait together; each attempt also has its own
timeout within it, so a key whose connection hangs costs that much and the call moves on. A
free key is tried at once; the call sleeps only when no key is free, until the first one
frees up (Retry-After honoured) or for a jittered backoff. Request-scoped errors are raised
at once, never retried. The numbers and the failover rule are adapters/call_rules.py's.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Credential
from adapters.call_rules import (
    ATTEMPT_TIMEOUT_SECONDS,
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    CALL_BUDGET_SECONDS,
    fails_over,
)
from adapters.errors import (
    FaultScope,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    redact,
)
from dispatch.key_pool_view import KeyPoolView
from dispatch.key_sources import DatabaseKeys, KeySource, SourceScope, ViewKeys
from registry.domain import Team
from registry.keys import (
    CooldownPolicy,
    KeyOutcome,
    LeasedKey,
    MasterKeyring,
    NoKeyAvailableError,
    RecordedFailure,
)
from registry.orm import utcnow

T = TypeVar("T")
Operation = Callable[[Credential], Awaitable[T]]
log = logging.getLogger("dispatch.keyed_call")

OUTCOME_BY_SCOPE: dict[FaultScope, KeyOutcome] = {
    FaultScope.KEY: KeyOutcome.KEY_SCOPED,
    FaultScope.RATE_LIMIT: KeyOutcome.RATE_LIMITED,
    FaultScope.MODEL: KeyOutcome.MODEL_SCOPED,
    FaultScope.REQUEST: KeyOutcome.REQUEST_SCOPED,
    FaultScope.TRANSIENT: KeyOutcome.TRANSIENT,
    FaultScope.PROVIDER: KeyOutcome.UNREACHABLE,
}
# Outcomes after which the key is skipped for the rest of the round (nothing cooled it).
SKIP_FOR_THE_ROUND = frozenset({KeyOutcome.TRANSIENT, KeyOutcome.TIMED_OUT, KeyOutcome.UNREACHABLE})
SHOWN_ATTEMPTS = 10  # an error message lists at most the last this many attempts


@dataclass(frozen=True)
class KeyRef:
    """A key as reports name it: id, label and last four characters, never the secret."""

    key_id: int
    label: str
    last4: str


@dataclass(frozen=True)
class Attempt:
    """One try with one key, as `providers check` reports it."""

    key_id: int
    label: str
    last4: str
    outcome: str  # "success" or a KeyOutcome value
    detail: str  # the provider's error, with the key's secret scrubbed out
    seconds: float

    def __str__(self) -> str:
        return (
            f"key {self.key_id} ({self.label} …{self.last4}) {self.outcome} "
            f"after {self.seconds:.2f}s: {self.detail}"
        )


@dataclass
class KeyedResult(Generic[T]):
    value: T
    key: KeyRef | None  # the key that answered; None for providers that need no key
    attempts: list[Attempt]


class CallFailedError(Exception):
    """No key answered. `attempts` says what each try met; `first_free_at` when a key frees up.

    The message is `summary` (which names the last fault) followed by the last attempts, one
    per line.
    """

    retryable: ClassVar[bool] = False  # see adapters.call_rules.is_retryable

    def __init__(
        self, summary: str, attempts: list[Attempt], first_free_at: datetime | None = None
    ) -> None:
        super().__init__(_with_attempts(summary, attempts))
        self.summary = summary
        self.attempts = list(attempts)
        self.first_free_at = first_free_at


class NoUsableKeyError(CallFailedError):
    """Waiting cannot help: the team has no key for the provider, or every key is disabled."""


class BudgetExhaustedError(CallFailedError):
    """The call's time budget ran out, or the first key frees up only after it would."""

    retryable = True  # keys cool down and providers come back: a later call may get through


@dataclass
class CallPolicy:
    """How long one call may take in all and per attempt, how it backs off, and its clocks
    (injectable). An attempt gets min(attempt_timeout_seconds, what is left of the budget)."""

    budget_seconds: float = CALL_BUDGET_SECONDS
    attempt_timeout_seconds: float = ATTEMPT_TIMEOUT_SECONDS
    base_backoff: float = BACKOFF_BASE_SECONDS
    max_backoff: float = BACKOFF_CAP_SECONDS
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic  # measures the budget and attempt durations
    rng: random.Random = field(default_factory=random.Random)
    now: Callable[[], datetime] = utcnow  # the UTC clock cooldown deadlines are written in
    cooldowns: CooldownPolicy = field(default_factory=CooldownPolicy)

    def backoff(self, round_number: int) -> float:
        """Equal-jitter exponential backoff, so many callers do not retry in step."""
        ceiling = min(self.max_backoff, self.base_backoff * 2**round_number)
        return self.rng.uniform(ceiling / 2, ceiling)


@dataclass
class _Call:
    """The state of one call: its deadline, its attempts, and the keys that just blipped."""

    deadline: float
    attempts: list[Attempt]
    blipped: set[int] = field(default_factory=set)  # failed this round, nothing cooled them
    rounds: int = 0


@dataclass(frozen=True)
class _Failure:
    error: ProviderError
    recorded: RecordedFailure
    out_of_time: bool  # the budget ran out during the attempt


@dataclass
class KeyedCaller:
    """Makes calls of one team to one provider (and model) through the pool."""

    sessions: sessionmaker[Session]
    team: Team
    keyring: MasterKeyring | None
    provider: str
    model: str | None = None
    policy: CallPolicy = field(default_factory=CallPolicy)
    # Set: keys come from this process-wide view and a success touches no database.
    view: KeyPoolView | None = None

    def __post_init__(self) -> None:
        self._source = self._keys()

    async def call(
        self, operation: Operation[T], *, attempts: list[Attempt] | None = None
    ) -> KeyedResult[T]:
        """Run `operation` with the best free key, failing over until it works or time is up.

        Each attempt is appended to `attempts` as it happens, so a caller sees them even when
        a request-scoped ProviderError is raised.
        """
        state = self._start(attempts)
        while True:
            lease = await self._lease_or_wait(state)
            if lease is None:
                continue  # slept until a key frees up: a new round
            result = await self._try(lease, operation, state)
            if not isinstance(result, _Failure):
                return KeyedResult(result, _ref(lease), state.attempts)
            if not fails_over(result.error):
                raise result.error  # the request is wrong: another key will not fix it
            if result.out_of_time:
                raise BudgetExhaustedError(self._ran_out(lease, state), state.attempts)
            if result.recorded.outcome in SKIP_FOR_THE_ROUND:
                state.blipped.add(lease.key_id)  # nothing cooled it: try the others first

    async def call_pinned(
        self, key_id: int, operation: Operation[T], *, attempts: list[Attempt] | None = None
    ) -> T:
        """Run `operation` with this key only (whatever its cooldown); errors are raised as is."""
        state = self._start(attempts)
        lease = await self._source.pinned(key_id)
        result = await self._try(lease, operation, state)
        if isinstance(result, _Failure):
            raise result.error
        return result

    def _start(self, attempts: list[Attempt] | None) -> _Call:
        deadline = self.policy.clock() + self.policy.budget_seconds
        return _Call(deadline, attempts if attempts is not None else [])

    async def _lease_or_wait(self, state: _Call) -> LeasedKey | None:
        if state.deadline - self.policy.clock() <= 0:
            raise BudgetExhaustedError(self._ran_out(None, state), state.attempts)
        try:
            return await self._source.acquire(frozenset(state.blipped))
        except NoKeyAvailableError as exc:
            retry_at = self._retry_at(exc, state)
            if retry_at is None:
                message = _naming_last_fault(str(exc), state.attempts)
                raise NoUsableKeyError(message, state.attempts) from exc
            wait = _seconds(retry_at, self.policy.now())
            remaining = state.deadline - self.policy.clock()
            if wait >= remaining:
                message = self._too_late(exc, retry_at, wait, remaining, state)
                raise BudgetExhaustedError(message, state.attempts, retry_at) from exc
            await self.policy.sleep(wait)
            state.blipped.clear()
            state.rounds += 1
            return None

    def _retry_at(self, exc: NoKeyAvailableError, state: _Call) -> datetime | None:
        """When a key is worth trying again, or None if waiting cannot help."""
        moments = [] if exc.first_free_at is None else [exc.first_free_at]
        if state.blipped:  # keys that failed transiently may work after a backoff
            backoff = self.policy.backoff(state.rounds)
            moments.append(self.policy.now() + timedelta(seconds=backoff))
        if not moments:
            return None
        if exc.model_cooling_until is not None:  # no key helps while the model cools
            return max(min(moments), exc.model_cooling_until)
        return min(moments)

    async def _try(self, lease: LeasedKey, operation: Operation[T], state: _Call) -> T | _Failure:
        started = self.policy.clock()
        credential = Credential(api_key=lease.credential, key_id=str(lease.key_id))
        remaining = max(0.0, state.deadline - started)
        limit = min(self.policy.attempt_timeout_seconds, remaining)
        expired = False
        try:
            async with asyncio.timeout(limit) as scope:
                value = await operation(credential)
        except TimeoutError:
            if not scope.expired():
                raise
            expired = True
            error: ProviderError = ProviderTimeoutError(
                f"no answer within {self._limit_name(limit, remaining)}", provider=self.provider
            )
        except ProviderError as exc:
            error = exc
        else:
            elapsed = self.policy.clock() - started
            await self._source.record_success(lease.key_id, elapsed)
            state.attempts.append(_attempt(lease, "success", "ok", elapsed))
            return value
        elapsed = self.policy.clock() - started
        out_of_time = expired and limit >= remaining  # the attempt had the rest of the budget
        # Cut short by the budget, the attempt had less than its due: a blip, not a timeout.
        cut_short = out_of_time and remaining < self.policy.attempt_timeout_seconds
        outcome = KeyOutcome.TRANSIENT if cut_short else _outcome(error)
        recorded = await self._record_failure(lease.key_id, error, outcome)
        detail = redact(str(error), [lease.credential.get_secret_value()])
        attempt = _attempt(lease, recorded.outcome.value, detail, elapsed)
        state.attempts.append(attempt)
        log.info("%s call failed with %s", self.provider, attempt)
        return _Failure(error, recorded, out_of_time)

    def _limit_name(self, limit: float, remaining: float) -> str:
        if limit < remaining:
            return f"the {limit:g}s attempt timeout"
        return f"the {limit:.3g}s left of the call's {self.policy.budget_seconds:g}s budget"

    # -- the pool: the database, or a shared view of it -----------------------------------

    def _keys(self) -> KeySource:
        policy = self.policy
        scope = SourceScope(self.team, self.provider, self.model, policy.cooldowns, policy.now)
        if self.view is not None:
            return ViewKeys(self.view, scope)
        return DatabaseKeys(self.sessions, self.keyring, scope)

    async def _record_failure(
        self, key_id: int, error: ProviderError, outcome: KeyOutcome
    ) -> RecordedFailure:
        retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
        return await self._source.record_failure(key_id, outcome, retry_after, str(error))

    def _ran_out(self, lease: LeasedKey | None, state: _Call) -> str:
        where = "" if lease is None else f" while waiting on key {lease.key_id} ({lease.label})"
        return _naming_last_fault(f"{self._no_answer()}: it ran out{where}", state.attempts)

    def _too_late(
        self,
        exc: NoKeyAvailableError,
        free_at: datetime,
        wait: float,
        remaining: float,
        state: _Call,
    ) -> str:
        summary = (
            f"{self._no_answer()}: {exc}. The first key frees up at {free_at.isoformat()} "
            f"(in {wait:.1f}s), after the {max(0.0, remaining):.1f}s left of the budget"
        )
        return _naming_last_fault(summary, state.attempts)

    def _no_answer(self) -> str:
        budget = self.policy.budget_seconds
        return f"no {self.provider} key answered within the call's {budget:g}s budget"


def _outcome(error: ProviderError) -> KeyOutcome:
    """What a fault says about the key: a timeout counts as one, the rest go by scope."""
    if isinstance(error, ProviderTimeoutError):
        return KeyOutcome.TIMED_OUT
    return OUTCOME_BY_SCOPE[error.scope]


def _naming_last_fault(summary: str, attempts: list[Attempt]) -> str:
    """The summary, followed by what the last failed attempt met unless it already says so."""
    failed = [attempt for attempt in attempts if attempt.outcome != "success"]
    if not failed or failed[-1].detail in summary:
        return summary
    return f"{summary}; the last attempt met: {failed[-1].detail}"


def _ref(lease: LeasedKey) -> KeyRef:
    return KeyRef(lease.key_id, lease.label, lease.last4)


def _attempt(lease: LeasedKey, outcome: str, detail: str, seconds: float) -> Attempt:
    return Attempt(lease.key_id, lease.label, lease.last4, outcome, detail, round(seconds, 3))


def _seconds(moment: datetime, now: datetime) -> float:
    return max(0.0, (moment - now).total_seconds())


def _with_attempts(summary: str, attempts: list[Attempt]) -> str:
    shown = attempts[-SHOWN_ATTEMPTS:]
    if not shown:
        return f"{summary}. No attempt was made"
    earlier = len(attempts) - len(shown)
    lines = [f"  ({earlier} earlier attempts not shown)"] if earlier else []
    return f"{summary}. Attempts:\n" + "\n".join([*lines, *(f"  {a}" for a in shown)])

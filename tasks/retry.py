"""When a task may try again: provider faults that pass, and concurrent writers.

Bad input (a request-scoped provider error, an invalid dataset, an unknown model) is never
retried. `retry_on_transient` must stay a function (Prefect never calls a callable object or
a partial: see the Prefect reference, §1); Prefect awaits it in async and sync tasks alike.
"""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun

from adapters.errors import ProviderError
from dispatch.providers import BudgetExhaustedError
from registry.errors import ConflictError, DatabaseUnavailableError

# Seconds each provider call may take (adapter timeout) and the key pool's budget for it.
CALL_TIMEOUT_SECONDS = 60.0


def is_transient(error: BaseException) -> bool:
    """True for errors the same request may get past later."""
    if isinstance(error, ProviderError):
        return error.retryable
    # The pool ran out of time (keys cooling, rate limits); NoUsableKeyError is not this.
    return isinstance(error, BudgetExhaustedError | ConflictError | DatabaseUnavailableError)


async def retry_on_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect's `retry_condition_fn`: retry only transient failures.

    A coroutine function, because in an async task `state.result()` hands back a coroutine
    and raises nothing, which would silently turn every retry off.
    """
    try:
        await state.aresult()
    except Exception as exc:
        return is_transient(exc)
    return False

"""When a task may try again: Prefect's retry condition over the one retry rule.

`is_transient` is `adapters.call_rules.is_retryable`: provider faults that pass, an exhausted
call budget, concurrent writers and an unreachable database; bad input (a request-scoped
provider error, an invalid dataset, an unknown model) is never retried. `retry_on_transient`
must stay a function (Prefect never calls a callable object or a partial: see the Prefect
reference, §1); Prefect awaits it in async and sync tasks alike.
"""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun

from adapters.call_rules import CALL_BUDGET_SECONDS
from adapters.call_rules import is_retryable as is_transient

__all__ = ["CALL_TIMEOUT_SECONDS", "is_transient", "retry_on_transient"]

# Seconds one provider call of a task may take in all (the adapter's timeout and the key
# pool's budget); each attempt inside it has the pool's own attempt timeout.
CALL_TIMEOUT_SECONDS = CALL_BUDGET_SECONDS


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

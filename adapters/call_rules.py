"""How long a provider call may take and which faults are tried again: the one home of both.

The dispatch layer's call policy, Prefect's retry condition (tasks/retry.py) and the HTTP
boundary read these. How long a key or a model cools is the key pool's own policy
(`registry.keys.CooldownPolicy`), applied in SQL where the deadlines live.
"""

from __future__ import annotations

from adapters.errors import FaultScope, ProviderError

__all__ = [
    "ATTEMPT_TIMEOUT_SECONDS",
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_CAP_SECONDS",
    "CALL_BUDGET_SECONDS",
    "CONNECT_TIMEOUT_SECONDS",
    "PROBE_ATTEMPT_TIMEOUT_SECONDS",
    "PROBE_BUDGET_SECONDS",
    "READ_TIMEOUT_SECONDS",
    "STREAM_IDLE_TIMEOUT_SECONDS",
    "fails_over",
    "is_retryable",
]

# One call through the key pool: every attempt, failover and wait together.
CALL_BUDGET_SECONDS = 60.0
# One attempt with one key, cut to what is left of the budget. Shorter than the budget, so a
# key whose connection hangs costs this much and the call still has time for another key.
ATTEMPT_TIMEOUT_SECONDS = 30.0
# `modelops providers check`: a one-token chat, so a key silent for 10 s is hung.
PROBE_BUDGET_SECONDS = 30.0
PROBE_ATTEMPT_TIMEOUT_SECONDS = 10.0
# When every key just failed transiently, the call waits an equal-jitter exponential backoff:
# uniform in [d/2, d] with d = min(cap, base * 2**round).
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
# One HTTP exchange: reaching the host (a host that never accepts is the provider's fault), and
# each read, write or wait for a pooled connection (the adapters' `timeout_seconds` default).
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 60.0
# A streamed answer, once its first chunk is in: silence (no event, pings included) this long
# means the provider stalled (the adapters' `stream_idle_timeout_seconds` default).
STREAM_IDLE_TIMEOUT_SECONDS = 30.0


def fails_over(error: ProviderError) -> bool:
    """Within one call: may another key, or the same one after a wait, get past this fault?

    Every fault but a request-scoped one: a wrong request fails the same way on every key.
    """
    return error.scope is not FaultScope.REQUEST


def is_retryable(error: BaseException) -> bool:
    """May the same request get past this error later? The one rule every retry applies.

    Each error class says so in its `retryable` attribute. Provider faults: rate limits, model
    and provider outages and transient faults are retryable; key-scoped and request-scoped ones
    are not (adapters/errors.py). Layers above declare theirs the same way: an exhausted call
    budget, a concurrent writer and an unreachable database are retryable. Anything without the
    attribute (bad input, a bug) is not.
    """
    return getattr(error, "retryable", False) is True

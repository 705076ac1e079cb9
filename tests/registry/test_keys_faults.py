"""Timeouts and unreachable providers in the key pool, on both backends: what each charges."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from registry.keys import CooldownPolicy, KeyEventKind, KeyOutcome, KeyStatus
from tests.registry.test_keys_support import T0, PoolFactory

MODEL = "gpt-test"


@pytest.fixture
def pools(db_url: str) -> Iterator[PoolFactory]:
    factory = PoolFactory(db_url)  # cooldown jitter pinned: a delay is its full ceiling
    yield factory
    factory.close()


def _time_out(pools: PoolFactory, key: int, times: int = 1) -> None:
    for _ in range(times):
        with pools.pool() as pool:
            pool.record_failure(key, KeyOutcome.TIMED_OUT, reason="openai: no answer", model=MODEL)


def test_a_key_cools_after_n_timeouts_in_a_row_and_each_one_counts(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("hung", 0)])
    n = pools.policy.timeouts_before_cooldown
    _time_out(pools, key, n - 1)
    with pools.pool() as pool:
        below = pool.get(key)
    assert (below.status, below.cooldown_until) == (KeyStatus.ACTIVE, None)
    assert (below.error_count, below.consecutive_failures) == (n - 1, n - 1)
    _time_out(pools, key)
    with pools.pool() as pool:
        cooled = pool.get(key)
        [event] = [e for e in pool.events(key) if e.kind is KeyEventKind.COOLED]
    assert cooled.status is KeyStatus.COOLING
    assert cooled.cooldown_until == T0 + timedelta(seconds=pools.policy.timeout_cooldown_seconds)
    assert (cooled.error_count, cooled.last_error_class) == (n, "timed_out")
    assert f"{n} timeouts in a row" in str(event.detail["reason"])


def test_a_success_or_another_failure_in_between_starts_the_count_again(
    pools: PoolFactory,
) -> None:
    (key,) = pools.add_keys([("flaky", 0)])
    n = pools.policy.timeouts_before_cooldown
    _time_out(pools, key, n - 1)
    with pools.pool() as pool:
        pool.record_success(key, 10.0)
    _time_out(pools, key, n - 1)
    with pools.pool() as pool:
        pool.record_failure(key, KeyOutcome.TRANSIENT, reason="malformed JSON")
    _time_out(pools, key, n - 1)
    with pools.pool() as pool:
        view = pool.get(key)
    assert view.status is KeyStatus.ACTIVE and view.cooldown_until is None
    assert view.consecutive_failures == n - 1
    _time_out(pools, key)  # the n-th in a row
    with pools.pool() as pool:
        assert pool.get(key).status is KeyStatus.COOLING


def test_timeout_cooldowns_double_with_each_further_timeout_up_to_the_cap() -> None:
    policy = CooldownPolicy(
        timeouts_before_cooldown=2, timeout_cooldown_seconds=60, cap_seconds=300, uniform=lambda: 1
    )
    assert [policy.timeout_delay(n) for n in range(1, 7)] == [None, 60, 120, 240, 300, 300]
    with pytest.raises(ValueError, match="timeouts_before_cooldown must be at least 1"):
        CooldownPolicy(timeouts_before_cooldown=0)


@pytest.mark.parametrize("model", [MODEL, None])
def test_an_unreachable_provider_never_charges_the_key(
    pools: PoolFactory, model: str | None
) -> None:
    (key,) = pools.add_keys([("key", 0)])
    for _ in range(5):
        with pools.pool() as pool:
            recorded = pool.record_failure(
                key, KeyOutcome.UNREACHABLE, reason="connection refused at h:1", model=model
            )
    assert recorded.outcome is KeyOutcome.UNREACHABLE
    with pools.pool() as pool:
        view = pool.get(key)
        cooldown = pool.model_cooldown("openai", MODEL)
    assert (view.status, view.error_count, view.consecutive_failures) == (KeyStatus.ACTIVE, 0, 0)
    assert (view.last_error_class, view.cooldown_until) == (None, None)
    if model is None:
        assert cooldown is None  # nothing to cool, and nothing charged either
    else:  # the model cools on every key, as for a 5xx: 1, 2, 4, 8, 16 s
        assert cooldown is not None and cooldown.consecutive_failures == 5
        assert cooldown.cooldown_until == T0 + timedelta(seconds=16)
        assert cooldown.reason == "connection refused at h:1"

"""The key pool on both backends: selection order, outcomes, cooldowns, pinning, tenancy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.errors import InvalidInputError, NotFoundError
from registry.keys import (
    CooldownPolicy,
    KeyDisabledError,
    KeyEventKind,
    KeyOutcome,
    KeyStatus,
    MasterKeyMissingError,
    NoKeyAvailableError,
)
from tests.registry.test_keys_support import SECRETS, T0, PoolFactory


@pytest.fixture
def pools(db_url: str) -> Iterator[PoolFactory]:
    factory = PoolFactory(db_url)
    yield factory
    factory.close()


def _acquire_ids(pools: PoolFactory, times: int, **kwargs: object) -> list[int]:
    picked = []
    for _ in range(times):
        pools.clock.advance(1)
        with pools.pool() as pool:
            picked.append(pool.acquire("openai", **kwargs).key_id)  # type: ignore[arg-type]
    return picked


def test_acquire_takes_highest_priority_then_least_recently_used(pools: PoolFactory) -> None:
    a, b, low = pools.add_keys([("a", 10), ("b", 10), ("low", 1)])
    assert _acquire_ids(pools, 4) == [a, b, a, b]
    with pools.pool() as pool:
        pool.disable(a)
    assert _acquire_ids(pools, 2) == [b, b]
    with pools.pool() as pool:
        pool.disable(b)
    assert _acquire_ids(pools, 1) == [low]


def test_never_used_keys_go_before_used_ones_of_the_same_priority(pools: PoolFactory) -> None:
    (first,) = pools.add_keys([("first", 0)])
    assert _acquire_ids(pools, 2) == [first, first]
    with pools.pool() as pool:
        second = pool.add("openai", "second", SECRETS[5], 0).id
    assert _acquire_ids(pools, 2) == [second, first]


def test_acquire_skips_cooling_and_disabled_keys(pools: PoolFactory) -> None:
    cooling, disabled, usable = pools.add_keys([("cooling", 9), ("disabled", 9), ("usable", 1)])
    with pools.pool() as pool:
        pool.record_failure(cooling, KeyOutcome.RATE_LIMITED, retry_after=60, reason="429")
        pool.record_failure(disabled, KeyOutcome.KEY_SCOPED, reason="401 invalid key")
    assert set(_acquire_ids(pools, 5)) == {usable}


def test_a_cooling_key_is_used_again_once_its_deadline_passes(pools: PoolFactory) -> None:
    key, spare = pools.add_keys([("key", 5), ("spare", 1)])
    with pools.pool() as pool:
        pool.record_failure(key, KeyOutcome.RATE_LIMITED, retry_after=30, reason="429")
    assert _acquire_ids(pools, 1) == [spare]  # clock at +1s
    pools.clock.advance(30)
    assert _acquire_ids(pools, 1) == [key]
    with pools.pool() as pool:
        assert pool.get(key).status is KeyStatus.ACTIVE


def test_rate_limit_deadlines_only_move_later(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("key", 0)])
    with pools.pool() as pool:
        first = pool.record_failure(key, KeyOutcome.RATE_LIMITED, retry_after=60, reason="a")
        shorter = pool.record_failure(key, KeyOutcome.RATE_LIMITED, retry_after=5, reason="b")
        longer = pool.record_failure(key, KeyOutcome.RATE_LIMITED, retry_after=120, reason="c")
    assert first.key_cooldown_until == T0 + timedelta(seconds=60)
    assert shorter.key_cooldown_until == T0 + timedelta(seconds=60)
    assert longer.key_cooldown_until == T0 + timedelta(seconds=120)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    reports=st.lists(
        st.tuples(st.floats(0, 100), st.floats(0, 500) | st.none()), min_size=1, max_size=6
    )
)
def test_the_cooldown_deadline_is_the_latest_ever_asked_for(
    pools: PoolFactory, reports: list[tuple[float, float | None]]
) -> None:
    """Property: whatever the order of reports, the deadline is max(now_i + delay_i)."""
    policy = CooldownPolicy(uniform=lambda: 1.0)
    with pools.pool() as pool:
        key = pool.add("openai", f"k{len(pool.list())}", SECRETS[0], 0).id
    expected = None
    for step, retry_after in reports:
        pools.clock.advance(step)
        with pools.pool() as pool:
            failures = pool.get(key).consecutive_failures + 1
            until = pool.record_failure(
                key, KeyOutcome.RATE_LIMITED, retry_after=retry_after
            ).key_cooldown_until
        asked = pools.clock.now + timedelta(seconds=policy.delay(retry_after, failures))
        expected = asked if expected is None else max(expected, asked)
        assert until == expected


def test_backoff_without_retry_after_doubles_up_to_the_cap() -> None:
    policy = CooldownPolicy(base_seconds=1, cap_seconds=10, jitter=0.5, uniform=lambda: 1.0)
    assert [policy.delay(None, n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    low = CooldownPolicy(base_seconds=1, cap_seconds=10, jitter=0.5, uniform=lambda: 0.0)
    assert low.delay(None, 3) == 2.0  # equal jitter never drops below half the ceiling
    assert policy.delay(10**9, 1) == policy.max_retry_after_seconds


def test_key_scoped_failure_disables_the_key_and_records_an_event(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("key", 0)])
    with pools.pool() as pool:
        result = pool.record_failure(key, KeyOutcome.KEY_SCOPED, reason="401 key revoked")
        view = pool.get(key)
        events = pool.events(key)
    assert result.key_status is KeyStatus.DISABLED
    assert (view.status, view.disabled_reason) == (KeyStatus.DISABLED, "401 key revoked")
    assert [e.kind for e in events] == [KeyEventKind.ADDED, KeyEventKind.DISABLED]
    assert events[-1].detail["reason"] == "401 key revoked"
    assert events[-1].detail["by"] == "provider"


def test_model_scoped_failure_cools_the_model_on_the_provider_not_the_key(
    pools: PoolFactory,
) -> None:
    (key,) = pools.add_keys([("key", 0)])
    with pools.pool() as pool:
        result = pool.record_failure(
            key, KeyOutcome.MODEL_SCOPED, retry_after=45, reason="503 overloaded", model="gpt-x"
        )
    assert result.model_cooldown_until == T0 + timedelta(seconds=45)
    assert result.key_status is KeyStatus.ACTIVE
    assert _acquire_ids(pools, 1) == [key]
    assert _acquire_ids(pools, 1, model="other-model") == [key]
    with pools.pool() as pool, pytest.raises(NoKeyAvailableError) as caught:
        pool.acquire("openai", model="gpt-x")
    assert caught.value.model_cooling_until == T0 + timedelta(seconds=45)
    assert caught.value.first_free_at == T0 + timedelta(seconds=45)
    assert "model 'gpt-x' is cooling on openai" in str(caught.value)
    pools.clock.advance(60)
    assert _acquire_ids(pools, 1, model="gpt-x") == [key]


def test_model_cooldowns_only_move_later_too(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("key", 0)])
    with pools.pool() as pool:
        for retry_after in (50, 10, 70, 20):
            pool.record_failure(
                key, KeyOutcome.MODEL_SCOPED, retry_after=retry_after, reason="5xx", model="m"
            )
        cooldown = pool.model_cooldown("openai", "m")
    assert cooldown is not None
    assert cooldown.cooldown_until == T0 + timedelta(seconds=70)
    assert cooldown.consecutive_failures == 4


def test_request_scoped_failure_changes_nothing(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("key", 0)])
    with pools.pool() as pool:
        before = pool.get(key)
        result = pool.record_failure(
            key, KeyOutcome.REQUEST_SCOPED, reason="400 context too long", model="m"
        )
        after = pool.get(key)
        assert pool.model_cooldown("openai", "m") is None
    assert result.key_status is KeyStatus.ACTIVE
    assert before == after


def test_transient_failure_counts_an_error_and_cools_nothing(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("key", 0)])
    with pools.pool() as pool:
        pool.record_failure(key, KeyOutcome.TRANSIENT, reason="connection reset")
        view = pool.get(key)
    assert (view.status, view.error_count, view.cooldown_until) == (KeyStatus.ACTIVE, 1, None)
    assert view.last_error_class == "transient"


def test_success_resets_error_counts_but_not_a_running_cooldown(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("key", 0)])
    with pools.pool() as pool:
        pool.record_failure(key, KeyOutcome.TRANSIENT, reason="reset")
        pool.record_failure(key, KeyOutcome.RATE_LIMITED, retry_after=30, reason="429")
        pool.record_success(key, latency_ms=120.0)
        view = pool.get(key)
    assert (view.error_count, view.consecutive_failures, view.success_count) == (0, 0, 1)
    assert view.cooldown_until == T0 + timedelta(seconds=30)
    assert view.status is KeyStatus.COOLING


def test_no_key_available_says_when_the_first_cooling_key_frees_up(pools: PoolFactory) -> None:
    a, b, dead = pools.add_keys([("a", 0), ("b", 0), ("dead", 0)])
    with pools.pool() as pool:
        pool.record_failure(a, KeyOutcome.RATE_LIMITED, retry_after=90, reason="429")
        pool.record_failure(b, KeyOutcome.RATE_LIMITED, retry_after=30, reason="429")
        pool.record_failure(dead, KeyOutcome.KEY_SCOPED, reason="403")
    with pools.pool() as pool, pytest.raises(NoKeyAvailableError) as caught:
        pool.acquire("openai")
    error = caught.value
    assert error.first_free_at == T0 + timedelta(seconds=30)
    assert error.retry_after_seconds(T0) == 30.0
    assert "2 cooling" in str(error) and "1 disabled" in str(error)
    assert (T0 + timedelta(seconds=30)).isoformat() in str(error)


def test_with_every_key_disabled_waiting_cannot_help(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("key", 0)])
    with pools.pool() as pool:
        pool.disable(key, "rotating")
    with pools.pool() as pool, pytest.raises(NoKeyAvailableError) as caught:
        pool.acquire("openai")
    assert caught.value.first_free_at is None
    assert caught.value.retry_after_seconds(T0) is None


def test_a_provider_without_keys_says_how_to_add_one(pools: PoolFactory) -> None:
    with pools.pool() as pool, pytest.raises(NoKeyAvailableError, match="keys add openai"):
        pool.acquire("openai")


def test_exclude_skips_keys_this_request_already_tried(pools: PoolFactory) -> None:
    a, b = pools.add_keys([("a", 5), ("b", 1)])
    with pools.pool() as pool:
        assert pool.acquire("openai", exclude={a}).key_id == b
        with pytest.raises(NoKeyAvailableError, match="2 already tried") as caught:
            pool.acquire("openai", exclude={a, b})
    assert caught.value.first_free_at is None


def test_pinned_key_is_served_while_cooling_and_refused_while_disabled(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("job-key", 0)])
    with pools.pool() as pool:
        pool.record_failure(key, KeyOutcome.RATE_LIMITED, retry_after=30, reason="429")
        pinned = pool.get_key_by_id(key)
        assert pinned.credential.get_secret_value() == SECRETS[0]
        assert pinned.cooldown_until == T0 + timedelta(seconds=30)
        pool.disable(key, "draining")
        with pytest.raises(KeyDisabledError, match="keys enable"):
            pool.get_key_by_id(key)
        assert pool.get_key_by_id(key, allow_disabled=True).key_id == key


def test_enable_restores_a_disabled_key_but_its_cooldown_runs_on(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("key", 0)])
    with pools.pool() as pool:
        pool.record_failure(key, KeyOutcome.RATE_LIMITED, retry_after=30, reason="429")
        pool.disable(key, "suspicious")
        assert pool.enable(key).status is KeyStatus.COOLING
        assert [e.kind for e in pool.events(key)][-2:] == [
            KeyEventKind.DISABLED,
            KeyEventKind.ENABLED,
        ]
    pools.clock.advance(31)
    assert _acquire_ids(pools, 1) == [key]


def test_team_b_never_sees_or_uses_team_a_keys(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("a-key", 0)], team="alpha")
    with pools.pool("beta") as pool:
        assert pool.list() == []
        with pytest.raises(NoKeyAvailableError):
            pool.acquire("openai")
        for action in (
            lambda: pool.get_key_by_id(key),
            lambda: pool.disable(key),
            lambda: pool.enable(key),
            lambda: pool.record_success(key),
            lambda: pool.record_failure(key, KeyOutcome.KEY_SCOPED, reason="x"),
        ):
            with pytest.raises(NotFoundError, match="no key"):
                action()
        assert pool.events() == []
    with pools.pool("alpha") as pool:
        assert pool.get(key).status is KeyStatus.ACTIVE


def test_same_label_may_exist_in_two_teams_but_not_twice_in_one(pools: PoolFactory) -> None:
    pools.add_keys([("shared", 0)], team="alpha")
    pools.add_keys([("shared", 0)], team="beta")
    with pools.pool() as pool, pytest.raises(InvalidInputError, match="already has a key"):
        pool.add("openai", "shared", SECRETS[3], 0)


def test_using_keys_without_a_master_key_says_to_set_one(db_url: str) -> None:
    factory = PoolFactory(db_url, keyring=None)
    try:
        with factory.pool() as pool:
            with pytest.raises(MasterKeyMissingError, match="keys new-master"):
                pool.add("openai", "k", SECRETS[0], 0)
            with pytest.raises(MasterKeyMissingError, match="MODELOPS_MASTER_KEY"):
                pool.acquire("openai")
    finally:
        factory.close()


@pytest.mark.parametrize(
    ("label", "secret", "field"),
    [
        ("k", "   ", "key"),
        ("k", "short", "key"),
        ("k", "sk-with space-inside", "key"),
        ("", SECRETS[0], "label"),
        (f"prod {SECRETS[0]}", SECRETS[0], "label"),
    ],
)
def test_add_rejects_bad_labels_and_secrets_without_quoting_them(
    pools: PoolFactory, label: str, secret: str, field: str
) -> None:
    with pools.pool() as pool, pytest.raises(InvalidInputError) as caught:
        pool.add("openai", label, secret, 0)
    assert caught.value.field == field
    assert secret.strip() not in str(caught.value) or not secret.strip()


def test_unknown_provider_lists_the_known_ones(pools: PoolFactory) -> None:
    with pools.pool() as pool, pytest.raises(NotFoundError, match="anthropic, openai"):
        pool.add("nosuch", "k", SECRETS[0], 0)


def test_a_failure_reason_echoing_the_key_is_stored_scrubbed(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("key", 0)])
    with pools.pool() as pool:
        pool.record_failure(key, KeyOutcome.KEY_SCOPED, reason=f"401: bad key {SECRETS[0]}")
        view = pool.get(key)
    assert view.disabled_reason == f"401: bad key …{SECRETS[0][-4:]}"


def test_model_scoped_failure_without_a_model_counts_as_transient(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("key", 0)])
    with pools.pool() as pool:
        result = pool.record_failure(key, KeyOutcome.MODEL_SCOPED, reason="502")
    assert result.outcome is KeyOutcome.TRANSIENT
    assert result.model_cooldown_until is None


def test_acquire_stamps_use_and_leases_hide_the_secret(pools: PoolFactory) -> None:
    (key,) = pools.add_keys([("key", 0)])
    pools.clock.advance(5)
    with pools.pool() as pool:
        lease = pool.acquire("openai")
        view = pool.get(key)
    assert (view.request_count, view.last_used_at) == (1, T0 + timedelta(seconds=5))
    assert SECRETS[0] not in repr(lease) and SECRETS[0] not in lease.model_dump_json()
    assert lease.credential.get_secret_value() == SECRETS[0]

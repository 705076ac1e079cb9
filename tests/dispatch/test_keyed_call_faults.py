"""Faults that are not an HTTP status: a key whose connection hangs, a provider nobody answers
for, a stored key no header can carry. Real sockets on 127.0.0.1, real PostgreSQL."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import update

from dispatch.keyed_call import Attempt, BudgetExhaustedError, CallPolicy
from registry.keys import KeyStatus
from registry.keys.crypto import KeyBinding, seal
from registry.keys.tables import ProviderKeyRow
from registry.tables import ProviderRow
from tests.dispatch.conftest import MODEL, SECRET_A, SECRET_B, World
from tests.fakes.openai_server import Fault
from tests.fakes.server import refusing_port
from tests.registry.test_keys_support import RING_1, T0, ring

pytestmark = pytest.mark.anyio

ATTEMPT_TIMEOUT = 0.2  # real seconds: the fake server really hangs


def _outcomes(attempts: list[Attempt]) -> list[tuple[int, str]]:
    return [(attempt.key_id, attempt.outcome) for attempt in attempts]


def _real_time(world: World, budget_seconds: float = 10.0) -> CallPolicy:
    """The budget and attempt timeout on the real monotonic clock; cooldown deadlines stay on
    the world's UTC clock, which only the test moves."""
    policy = world.time.policy(budget_seconds=budget_seconds)
    return replace(policy, clock=time.monotonic, attempt_timeout_seconds=ATTEMPT_TIMEOUT)


async def test_a_hung_key_fails_over_within_the_budget_and_cools_after_n_in_a_row(
    world: World,
) -> None:
    hung = world.add_key("hung", SECRET_A, priority=1)
    healthy = world.add_key("healthy", SECRET_B)
    world.server.always(SECRET_A, Fault.hang(30))  # accepts the request, never answers
    policy = _real_time(world)
    n = policy.cooldowns.timeouts_before_cooldown
    for _ in range(n):
        started = time.monotonic()
        result = await world.chat(policy)
        assert time.monotonic() - started < policy.budget_seconds
        assert result.key is not None and result.key.key_id == healthy
        assert _outcomes(result.attempts) == [(hung, "timed_out"), (healthy, "success")]
        assert "no answer within the 0.2s attempt timeout" in result.attempts[0].detail
        assert result.attempts[0].seconds >= ATTEMPT_TIMEOUT
    cooled = world.key(hung)
    assert (cooled.status, cooled.error_count) == (KeyStatus.COOLING, n)
    timeout_cooldown = timedelta(seconds=policy.cooldowns.timeout_cooldown_seconds)
    assert cooled.cooldown_until == T0 + timeout_cooldown
    result = await world.chat(policy)
    assert _outcomes(result.attempts) == [(healthy, "success")]  # straight to the healthy key
    assert world.server.keys_used() == [SECRET_A, SECRET_B] * n + [SECRET_B]


async def test_a_key_that_answers_between_timeouts_does_not_cool(world: World) -> None:
    flaky = world.add_key("flaky", SECRET_A)
    policy = _real_time(world)
    n = policy.cooldowns.timeouts_before_cooldown
    world.server.script(SECRET_A, *[Fault.hang(30)] * (n - 1))  # then it answers
    result = await world.chat(policy)
    assert [a.outcome for a in result.attempts] == ["timed_out"] * (n - 1) + ["success"]
    assert len(world.time.sleeps) == n - 1  # alone in the pool: a backoff before each retry
    world.server.script(SECRET_A, Fault.hang(30))
    result = await world.chat(policy)
    assert [a.outcome for a in result.attempts] == ["timed_out", "success"]
    key = world.key(flaky)
    assert (key.status, key.cooldown_until, key.consecutive_failures) == (
        KeyStatus.ACTIVE,
        None,
        0,
    )


def _point_openai_at(world: World, base_url: str) -> None:
    with world.sessions.begin() as session:
        session.execute(
            update(ProviderRow).where(ProviderRow.name == "openai").values(base_url=base_url)
        )


@pytest.mark.parametrize("model", [MODEL, None])
async def test_a_refused_connection_charges_no_key_and_the_error_names_it(
    world: World, model: str | None
) -> None:
    a = world.add_key("a", SECRET_A, priority=1)
    b = world.add_key("b", SECRET_B)
    with refusing_port() as port:
        _point_openai_at(world, f"http://127.0.0.1:{port}/v1")
        with pytest.raises(BudgetExhaustedError) as caught:
            await world.chat(world.time.policy(budget_seconds=5), model=model)
    error = caught.value
    assert f"openai: connection refused at 127.0.0.1:{port}" in error.summary
    assert error.attempts and {a.outcome for a in error.attempts} == {"unreachable"}
    assert world.time.mono <= 5  # it backed off inside the budget, then gave up
    for key_id in (a, b):
        key = world.key(key_id)
        assert (key.status, key.error_count, key.last_error_class) == (KeyStatus.ACTIVE, 0, None)
    cooldown = world.model_cooldown()
    if model is None:
        assert cooldown is None
    else:  # no key can help: the model cools, so the call waited instead of trying key b
        assert cooldown is not None and f"127.0.0.1:{port}" in cooldown.reason
        assert {attempt.key_id for attempt in error.attempts} == {a}


def _store_unvalidated(world: World, key_id: int, secret: str) -> None:
    """Seal `secret` into the key's row as is, as a key stored before validation existed."""
    with world.sessions.begin() as session:
        row = session.get_one(ProviderKeyRow, key_id)
        binding = KeyBinding(team_id=row.team_id, provider_id=row.provider_id, key_id=row.id)
        sealed = seal(secret, binding, ring(RING_1))
        row.ciphertext, row.nonce = sealed.ciphertext, sealed.nonce
        row.wrapped_dek, row.dek_nonce = sealed.wrapped_dek, sealed.dek_nonce


@pytest.mark.parametrize(
    "secret", ["sk-t\u00e9st-key-\u043a\u043b\u044e\u0447-1111", "sk-a b\r\n1111"]
)
async def test_a_stored_key_no_header_can_carry_is_disabled_and_the_call_fails_over(
    world: World, secret: str
) -> None:
    bad = world.add_key("pasted", "placeholder-secret-1111", priority=1)
    _store_unvalidated(world, bad, secret)
    good = world.add_key("good", SECRET_B)
    result = await world.chat()
    assert _outcomes(result.attempts) == [(bad, "key_scoped"), (good, "success")]
    assert "printable ASCII" in result.attempts[0].detail
    disabled = world.key(bad)
    assert disabled.status is KeyStatus.DISABLED
    assert disabled.disabled_reason is not None and "printable ASCII" in disabled.disabled_reason
    assert secret not in disabled.disabled_reason
    assert world.server.keys_used() == [SECRET_B]  # the bad key never left the process
    assert (await world.chat()).attempts[0].key_id == good  # and is not picked again

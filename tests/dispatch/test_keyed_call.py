"""Calls through the key pool against the fake OpenAI server, fault by fault: rotation, failover,
cooldown deadlines, the shared budget, and request-scoped errors that are never retried."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.chat import ChatMessage, ChatRequest, Role
from adapters.errors import AuthenticationError, ContextLengthError, RateLimitedError
from adapters.registry import chat_adapter
from dispatch.keyed_call import Attempt, BudgetExhaustedError, NoUsableKeyError
from registry.keys import KeyDisabledError, KeyStatus
from tests.dispatch.conftest import MODEL, SECRET_A, SECRET_B, SECRET_C, World
from tests.fakes.openai_server import Fault
from tests.registry.test_keys_support import T0

pytestmark = pytest.mark.anyio


def _outcomes(attempts: list[Attempt]) -> list[tuple[int, str]]:
    return [(attempt.key_id, attempt.outcome) for attempt in attempts]


async def test_rotation_takes_highest_priority_then_least_recently_used(world: World) -> None:
    a = world.add_key("a", SECRET_A, priority=10)
    b = world.add_key("b", SECRET_B, priority=10)
    low = world.add_key("low", SECRET_C, priority=0)
    answered = []
    for _ in range(4):
        world.time.advance(1)
        result = await world.chat()
        assert result.key is not None
        answered.append(result.key.key_id)
    assert answered == [a, b, a, b]
    assert world.server.keys_used() == [SECRET_A, SECRET_B, SECRET_A, SECRET_B]
    with world.sessions.begin() as session:
        world.pool(session).disable(a)
        world.pool(session).disable(b)
    assert (await world.chat()).key.key_id == low  # type: ignore[union-attr]


async def test_unauthorized_key_is_disabled_and_the_same_call_fails_over_at_once(
    world: World,
) -> None:
    a = world.add_key("a", SECRET_A, priority=1)
    b = world.add_key("b", SECRET_B)
    world.server.always(SECRET_A, Fault.unauthorized())
    result = await world.chat()
    assert result.key is not None and result.key.key_id == b
    assert _outcomes(result.attempts) == [(a, "key_scoped"), (b, "success")]
    assert world.time.sleeps == []
    assert world.key(a).status is KeyStatus.DISABLED
    await world.chat()
    assert world.server.keys_used() == [SECRET_A, SECRET_B, SECRET_B]  # never tried again


async def test_rate_limited_key_cools_until_retry_after_and_the_call_fails_over_at_once(
    world: World,
) -> None:
    a = world.add_key("a", SECRET_A, priority=1)
    b = world.add_key("b", SECRET_B)
    world.server.script(SECRET_A, Fault.rate_limited(retry_after="7"))
    result = await world.chat()
    assert _outcomes(result.attempts) == [(a, "rate_limited"), (b, "success")]
    assert world.time.sleeps == []
    cooled = world.key(a)
    assert cooled.status is KeyStatus.COOLING
    assert cooled.cooldown_until == T0 + timedelta(seconds=7)
    assert world.key(b).status is KeyStatus.ACTIVE


async def test_when_every_key_cools_the_call_sleeps_exactly_until_the_first_frees_up(
    world: World,
) -> None:
    a = world.add_key("a", SECRET_A, priority=1)
    b = world.add_key("b", SECRET_B)
    world.server.script(SECRET_A, Fault.rate_limited(retry_after="7"))
    world.server.script(SECRET_B, Fault.rate_limited(retry_after_ms="3000"))
    result = await world.chat()
    assert world.time.sleeps == [3.0]
    assert _outcomes(result.attempts) == [(a, "rate_limited"), (b, "rate_limited"), (b, "success")]
    assert world.key(a).cooldown_until == T0 + timedelta(seconds=7)  # still cooling, untouched


async def test_budget_too_short_for_any_cooldown_fails_at_once_naming_when_a_key_frees_up(
    world: World,
) -> None:
    a = world.add_key("a", SECRET_A, priority=1)
    b = world.add_key("b", SECRET_B)
    world.server.script(SECRET_A, Fault.rate_limited(retry_after="40"))
    world.server.script(SECRET_B, Fault.rate_limited(retry_after="30"))
    with pytest.raises(BudgetExhaustedError) as caught:
        await world.chat(world.time.policy(budget_seconds=10))
    error = caught.value
    assert world.time.sleeps == []  # no sleeping in vain for a key that frees up too late
    assert error.first_free_at == T0 + timedelta(seconds=30)
    assert f"first key frees up at {(T0 + timedelta(seconds=30)).isoformat()}" in str(error)
    assert _outcomes(error.attempts) == [(a, "rate_limited"), (b, "rate_limited")]
    assert f"key {a} (a …1111) rate_limited" in str(error)
    assert f"key {b} (b …2222) rate_limited" in str(error)


async def test_one_budget_covers_every_attempt_and_every_sleep(world: World) -> None:
    world.add_key("a", SECRET_A, priority=1)
    world.add_key("b", SECRET_B)
    world.server.always(SECRET_A, Fault.rate_limited(retry_after="4"))
    world.server.always(SECRET_B, Fault.rate_limited(retry_after="4"))
    with pytest.raises(BudgetExhaustedError) as caught:
        await world.chat(world.time.policy(budget_seconds=10))
    assert world.time.sleeps == [4.0, 4.0]  # a third 4 s wait would pass the 10 s budget
    assert world.time.mono <= 10
    assert len(caught.value.attempts) == 6 == len(world.server.keys_used())


async def test_server_error_cools_the_model_not_the_key_and_the_call_waits_it_out(
    world: World,
) -> None:
    a = world.add_key("a", SECRET_A, priority=1)
    b = world.add_key("b", SECRET_B)
    world.server.script(SECRET_A, Fault.server_error(500))  # then A answers
    result = await world.chat()
    cooldown = world.model_cooldown()
    assert cooldown is not None
    # No Retry-After on a 500: the pool's first backoff step (1 s with the test's jitter).
    assert cooldown.cooldown_until == T0 + timedelta(seconds=1)
    assert world.time.sleeps == [1.0]  # no other key can help while the model cools
    # The key was not cooled, so the best key answers once the model is back.
    assert _outcomes(result.attempts) == [(a, "model_scoped"), (a, "success")]
    assert world.key(a).status is KeyStatus.ACTIVE and world.key(a).cooldown_until is None
    assert world.key(b).request_count == 0


async def test_overloaded_model_beyond_the_budget_fails_naming_when_it_frees_up(
    world: World,
) -> None:
    world.add_key("a", SECRET_A)
    world.server.always(SECRET_A, Fault.overloaded(529))
    with pytest.raises(BudgetExhaustedError) as caught:
        await world.chat(world.time.policy(budget_seconds=3.5))
    # Model cooldowns double: 1 s, then 2 s; the third (4 s) is beyond what is left.
    assert world.time.sleeps == [1.0, 2.0]
    assert f"model {MODEL!r} is cooling" in str(caught.value)
    assert caught.value.first_free_at == T0 + timedelta(seconds=3 + 4)


async def test_context_length_error_is_raised_at_once_and_sent_only_once(world: World) -> None:
    a = world.add_key("a", SECRET_A, priority=1)
    b = world.add_key("b", SECRET_B)
    world.server.script(SECRET_A, Fault.context_length_exceeded())
    attempts: list[Attempt] = []
    with pytest.raises(ContextLengthError):
        await world.chat(attempts=attempts)
    assert len(world.server.requests_to("/chat/completions")) == 1
    assert _outcomes(attempts) == [(a, "request_scoped")]
    assert world.time.sleeps == []
    assert world.model_cooldown() is None
    for key_id in (a, b):
        assert world.key(key_id).status is KeyStatus.ACTIVE
        assert world.key(key_id).error_count == 0


async def test_malformed_json_is_transient_fails_over_and_cools_nothing(world: World) -> None:
    a = world.add_key("a", SECRET_A, priority=1)
    b = world.add_key("b", SECRET_B)
    world.server.script(SECRET_A, Fault.malformed_json())
    result = await world.chat()
    assert _outcomes(result.attempts) == [(a, "transient"), (b, "success")]
    assert world.time.sleeps == []
    blipped = world.key(a)
    assert (blipped.status, blipped.cooldown_until, blipped.error_count) == (
        KeyStatus.ACTIVE,
        None,
        1,
    )
    assert world.model_cooldown() is None


async def test_keys_that_all_blipped_are_retried_after_a_jittered_backoff(world: World) -> None:
    a = world.add_key("a", SECRET_A, priority=1)
    b = world.add_key("b", SECRET_B)
    world.server.script(SECRET_A, Fault.malformed_json())
    world.server.script(SECRET_B, Fault.malformed_json())
    result = await world.chat()
    [wait] = world.time.sleeps
    assert 0.25 <= wait <= 0.5  # equal jitter on the first 0.5 s step
    assert _outcomes(result.attempts) == [(a, "transient"), (b, "transient"), (a, "success")]


async def test_every_key_disabled_fails_at_once_without_waiting(world: World) -> None:
    world.add_key("a", SECRET_A, priority=1)
    world.add_key("b", SECRET_B)
    world.server.always(SECRET_A, Fault.unauthorized())
    world.server.always(SECRET_B, Fault.unauthorized())
    with pytest.raises(NoUsableKeyError) as caught:
        await world.chat()
    assert world.time.sleeps == []
    assert "2 disabled" in str(caught.value)
    assert [a.outcome for a in caught.value.attempts] == ["key_scoped", "key_scoped"]


async def test_a_team_without_keys_is_told_how_to_add_one(world: World) -> None:
    with pytest.raises(NoUsableKeyError, match="modelops keys add openai"):
        await world.chat()


async def test_a_hang_past_the_adapter_timeout_fails_over_to_the_next_key(
    impatient_world: World,
) -> None:
    a = impatient_world.add_key("a", SECRET_A, priority=1)
    b = impatient_world.add_key("b", SECRET_B)
    impatient_world.server.script(SECRET_A, Fault.hang(30))
    result = await impatient_world.chat()
    assert _outcomes(result.attempts) == [(a, "timed_out"), (b, "success")]
    assert "timed out" in result.attempts[0].detail
    assert impatient_world.time.sleeps == []


async def test_the_budget_cuts_an_attempt_that_hangs_and_sends_nothing_after(
    world: World,
) -> None:
    world.add_key("a", SECRET_A, priority=1)
    world.add_key("b", SECRET_B)
    world.server.always(SECRET_A, Fault.hang(30))
    # The per-attempt timeout is the rest of the budget, so this one runs on real time.
    policy = replace(world.time.policy(budget_seconds=0.3), clock=time.monotonic)
    with pytest.raises(BudgetExhaustedError, match="ran out while waiting on key") as caught:
        await world.chat(policy)
    assert world.server.keys_used() == [SECRET_A]
    assert [a.outcome for a in caught.value.attempts] == ["transient"]


async def test_pinned_call_keeps_its_key_while_it_cools_and_never_fails_over(
    world: World,
) -> None:
    a = world.add_key("a", SECRET_A)
    world.add_key("b", SECRET_B, priority=5)
    world.server.script(SECRET_A, Fault.rate_limited(retry_after="60"))
    request = ChatRequest(model=MODEL, messages=[ChatMessage(role=Role.USER, content="x")])
    async with world.provider() as handle:
        chat = chat_adapter(handle.adapter)
        with pytest.raises(RateLimitedError):
            await handle.call_pinned(a, lambda c: chat.chat(c, request), model=MODEL)
        assert world.key(a).status is KeyStatus.COOLING
        response = await handle.call_pinned(a, lambda c: chat.chat(c, request), model=MODEL)
    assert response.content == "echo: x"
    assert world.server.keys_used() == [SECRET_A, SECRET_A]


async def test_pinned_call_on_a_revoked_key_disables_it(world: World) -> None:
    a = world.add_key("a", SECRET_A)
    world.server.script(SECRET_A, Fault.unauthorized())
    request = ChatRequest(model=MODEL, messages=[ChatMessage(role=Role.USER, content="x")])
    async with world.provider() as handle:
        chat = chat_adapter(handle.adapter)
        with pytest.raises(AuthenticationError):
            await handle.call_pinned(a, lambda c: chat.chat(c, request))
        with pytest.raises(KeyDisabledError):
            await handle.call_pinned(a, lambda c: chat.chat(c, request))
    assert world.key(a).status is KeyStatus.DISABLED

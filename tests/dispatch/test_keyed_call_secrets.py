"""A key's plaintext never leaves the call: not in logs (httpx and httpcore at DEBUG included),
exception messages or reprs, attempts, results, or what the pool stores about a failure."""

from __future__ import annotations

import logging

import pytest

from dispatch.keyed_call import BudgetExhaustedError, NoUsableKeyError
from tests.dispatch.conftest import SECRET_A, SECRET_B, SECRET_C, World
from tests.fakes.openai_server import Fault

pytestmark = pytest.mark.anyio

SECRETS = (SECRET_A, SECRET_B, SECRET_C)


def _absent(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "gateway", "dispatch", "registry", "adapters"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def test_no_secret_in_logs_attempts_or_results_when_a_key_is_echoed_back(
    world: World, debug_logs: pytest.LogCaptureFixture
) -> None:
    a = world.add_key("a", SECRET_A, priority=2)
    world.add_key("b", SECRET_B, priority=1)
    world.add_key("c", SECRET_C)
    world.server.always(SECRET_A, Fault.unauthorized())  # its message quotes the key
    world.server.script(SECRET_B, Fault.rate_limited(retry_after="5"))
    result = await world.chat()
    assert [attempt.outcome for attempt in result.attempts] == [
        "key_scoped",
        "rate_limited",
        "success",
    ]
    assert "Incorrect API key provided" in result.attempts[0].detail
    assert any("httpx" in record.name for record in debug_logs.records)  # the logs were on
    _absent(debug_logs.text)
    _absent(repr(result) + str(result.attempts))
    _absent(str(world.key(a).disabled_reason))


async def test_no_secret_in_the_errors_of_a_call_that_found_no_key(
    world: World, debug_logs: pytest.LogCaptureFixture
) -> None:
    for label, secret in zip("abc", SECRETS, strict=True):
        world.add_key(label, secret)
        world.server.always(secret, Fault.unauthorized())
    with pytest.raises(NoUsableKeyError) as caught:
        await world.chat()
    error = caught.value
    assert len(error.attempts) == 3
    _absent(str(error) + repr(error) + repr(error.attempts) + str(error.__cause__))
    _absent(debug_logs.text)


async def test_no_secret_in_a_budget_exhausted_error(
    world: World, debug_logs: pytest.LogCaptureFixture
) -> None:
    world.add_key("a", SECRET_A, priority=1)
    world.add_key("c", SECRET_C)
    world.server.always(SECRET_A, Fault.unauthorized())
    world.server.always(SECRET_C, Fault.rate_limited(retry_after="90"))
    with pytest.raises(BudgetExhaustedError) as caught:
        await world.chat(world.time.policy(budget_seconds=5))
    error = caught.value
    assert "first key frees up at" in str(error)
    _absent(str(error) + repr(error) + repr(error.attempts) + str(error.__cause__))
    _absent(debug_logs.text)


async def test_no_secret_in_a_model_cooldown_reason_even_when_the_error_quotes_the_key(
    world: World, debug_logs: pytest.LogCaptureFixture
) -> None:
    """The reason a model cools is shown in later errors (from memory, with a view)."""
    world.add_key("a", SECRET_A)
    world.server.always(SECRET_A, Fault(500, "server_error", None, f"upstream saw {SECRET_A}"))
    with pytest.raises(BudgetExhaustedError) as caught:
        await world.chat(world.time.policy(budget_seconds=3.5))
    error = caught.value
    assert "is cooling" in str(error) and "upstream saw" in str(error)
    cooldown = world.model_cooldown()
    assert cooldown is not None and "upstream saw" in cooldown.reason
    _absent(str(error) + repr(error) + repr(error.attempts) + str(error.__cause__))
    _absent(cooldown.reason + debug_logs.text)

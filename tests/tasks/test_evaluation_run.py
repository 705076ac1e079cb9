"""Running examples: bounded concurrency, what a provider fault means, progress, retries."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prefect.states import Completed, Failed

from adapters.errors import (
    AuthenticationError,
    BadRequestError,
    ContextLengthError,
    ModelUnavailableError,
    ProviderTimeoutError,
    RateLimitedError,
)
from tasks import evaluation_run
from tasks.evaluation_dataset import EvalExample, parse_eval_jsonl
from tasks.evaluation_run import (
    Answer,
    NothingAnsweredError,
    is_retryable,
    run_all,
)
from tasks.retry import retry_on_transient


def _examples(n: int) -> list[EvalExample]:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"ticket {i}"},
                    {"role": "assistant", "content": "billing" if i % 2 else "login"},
                ]
            }
        )
        for i in range(n)
    ]
    return parse_eval_jsonl("\n".join(lines).encode(), source="t")


def _echo_label(example: EvalExample) -> Answer:
    return Answer(text="billing", latency_ms=2.0, input_tokens=3, output_tokens=1)


def test_at_most_concurrency_calls_are_in_flight_and_results_keep_dataset_order() -> None:
    in_flight, peak = 0, 0

    async def ask(example: EvalExample) -> Answer:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001 * (example.position % 5))
        in_flight -= 1
        return _echo_label(example)

    results = asyncio.run(run_all(_examples(60), ask, concurrency=4))

    assert peak == 4
    assert [r.position for r in results] == list(range(60))
    assert [r.correct for r in results] == [bool(i % 2) for i in range(60)]
    assert (results[1].predicted, results[1].latency_ms, results[1].input_tokens) == (
        "billing",
        2.0,
        3,
    )


@pytest.mark.parametrize(
    "fault",
    [
        BadRequestError("bad", provider="p", status_code=400),
        ContextLengthError("too long", provider="p", status_code=400),
    ],
)
def test_a_request_scoped_fault_is_recorded_as_incorrect_with_its_class_and_the_run_goes_on(
    fault: BadRequestError,
) -> None:
    async def ask(example: EvalExample) -> Answer:
        if example.position == 3:
            raise fault
        return _echo_label(example)

    results = asyncio.run(run_all(_examples(10), ask, concurrency=3))

    failed = results[3]
    assert (failed.correct, failed.predicted, failed.input_tokens) == (False, None, 0)
    assert failed.error is not None and failed.error.startswith(f"{type(fault).__name__}: p: ")
    assert [r.error for r in results if r.position != 3] == [None] * 9


@pytest.mark.parametrize(
    "fault",
    [
        ModelUnavailableError("down", provider="p", status_code=503),
        RateLimitedError("slow down", provider="p", retry_after=1.0),
        AuthenticationError("bad key", provider="p", status_code=401),
    ],
)
def test_any_other_provider_fault_fails_the_run_instead_of_scoring_the_version(
    fault: Exception,
) -> None:
    async def ask(example: EvalExample) -> Answer:
        if example.position == 5:
            raise fault
        return _echo_label(example)

    with pytest.raises(type(fault)):
        asyncio.run(run_all(_examples(10), ask, concurrency=2))


def test_when_several_examples_fail_a_fault_no_retry_can_fix_decides() -> None:
    async def ask(example: EvalExample) -> Answer:
        await asyncio.sleep(0.001)
        if example.position == 0:
            raise ModelUnavailableError("down", provider="p", status_code=503)
        raise AuthenticationError("bad key", provider="p", status_code=401)

    with pytest.raises(AuthenticationError):
        asyncio.run(run_all(_examples(2), ask, concurrency=2))


def test_a_call_past_the_time_limit_is_a_retryable_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluation_run, "CALL_TIMEOUT_SECONDS", 0.01)

    async def ask(example: EvalExample) -> Answer:
        await asyncio.sleep(1)
        return _echo_label(example)

    with pytest.raises(ProviderTimeoutError, match=r"example 0 \(line 1\) within 0.01s") as caught:
        asyncio.run(run_all(_examples(1), ask, concurrency=1))
    assert is_retryable(caught.value)


def test_a_run_where_every_example_failed_is_an_error_not_a_zero_accuracy() -> None:
    async def ask(example: EvalExample) -> Answer:
        raise BadRequestError("no local model 'm'", provider="local")

    with pytest.raises(
        NothingAnsweredError,
        match=r"every one of the 4 examples failed, e\.g\. BadRequestError: local: no local model 'm'",
    ):
        asyncio.run(run_all(_examples(4), ask, concurrency=2))


def test_progress_is_published_about_every_five_percent_rising_to_100() -> None:
    published: list[float] = []

    async def ask(example: EvalExample) -> Answer:
        await asyncio.sleep(0.0005 * (example.position % 7))
        return _echo_label(example)

    async def publish(percent: float) -> None:
        published.append(percent)

    asyncio.run(run_all(_examples(200), ask, concurrency=8, publish=publish))

    assert published == sorted(published) and published[-1] == 100.0
    assert len(published) == 20


def _state(outcome: Exception | None) -> Any:
    return Completed() if outcome is None else Failed(data=outcome)


@pytest.mark.parametrize(
    ("outcome", "retry"),
    [
        (ModelUnavailableError("down", provider="p", status_code=503), True),
        (RateLimitedError("slow", provider="p"), True),
        (ProviderTimeoutError("late", provider="p"), True),
        (BadRequestError("bad", provider="p", status_code=400), False),
        (AuthenticationError("key", provider="p", status_code=401), False),
        (ValueError("bad input"), False),
        (None, False),
    ],
)
def test_retry_condition_retries_only_retryable_provider_faults(
    outcome: Exception | None, retry: bool
) -> None:
    assert asyncio.run(retry_on_transient(None, None, _state(outcome))) is retry  # type: ignore[arg-type]

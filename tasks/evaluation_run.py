"""Sending every example to one version with bounded concurrency, and what each failure means.

A request-scoped provider fault (bad request, context length) is the version's answer to that
example: it is recorded as incorrect with the error class. Any other fault says nothing about
the version, so it fails the run: retryable ones are retried by Prefect, the rest are not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from adapters.call_rules import is_retryable as is_retryable  # the one retry rule
from adapters.categories import Category
from adapters.chat import ChatRequest, ClassificationRequest
from adapters.errors import FaultScope, ProviderError, ProviderTimeoutError
from adapters.registry import chat_adapter, classification_adapter
from dispatch.providers import ProviderHandle
from registry.domain import Frozen
from registry.evaluations import ExampleResult
from tasks.evaluation_dataset import EvalExample
from tasks.evaluation_plan import VersionUnderTest
from tasks.retry import CALL_TIMEOUT_SECONDS

# Progress is published at most this many times per run, so the API is not flooded.
PROGRESS_STEPS = 20


class Answer(Frozen):
    text: str
    latency_ms: float
    input_tokens: int
    output_tokens: int


Ask = Callable[[EvalExample], Awaitable[Answer]]
Publish = Callable[[float], Awaitable[None]]


class NothingAnsweredError(RuntimeError):
    """Every example failed: the version is unusable as configured, not merely inaccurate."""


def asker(handle: ProviderHandle, target: VersionUnderTest) -> Ask:
    """One example → one call to the version through the provider handle."""
    model = target.provider_model_id
    if target.category is Category.CLASSIFICATION:
        classifier = classification_adapter(handle.adapter)

        async def classify(example: EvalExample) -> Answer:
            request = ClassificationRequest(model=model, text=example.text)
            result = await handle.call(
                lambda credential: classifier.classify(
                    credential, request, timeout=CALL_TIMEOUT_SECONDS
                ),
                model=model,
            )
            reply = result.value
            return Answer(
                text=reply.label,
                latency_ms=reply.latency_ms,
                input_tokens=reply.usage.input_tokens,
                output_tokens=reply.usage.output_tokens,
            )

        return classify
    chatter = chat_adapter(handle.adapter)

    async def chat(example: EvalExample) -> Answer:
        request = ChatRequest(model=model, messages=example.prompt)
        result = await handle.call(
            lambda credential: chatter.chat(credential, request, timeout=CALL_TIMEOUT_SECONDS),
            model=model,
        )
        reply = result.value
        usage = reply.usage  # None when the provider does not report it: counted as 0
        return Answer(
            text=reply.content,
            latency_ms=reply.latency_ms,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
        )

    return chat


async def run_all(
    examples: list[EvalExample], ask: Ask, *, concurrency: int, publish: Publish | None = None
) -> list[ExampleResult]:
    """Every example's result in dataset order, with at most `concurrency` calls in flight."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    gate = asyncio.Semaphore(concurrency)
    progress = _Progress(len(examples), publish)

    async def one(example: EvalExample) -> ExampleResult:
        async with gate:
            result = await answer_example(example, ask)
        await progress.done()
        return result

    # A TaskGroup cancels the examples still in flight as soon as one raises.
    try:
        async with asyncio.TaskGroup() as group:
            pending = [group.create_task(one(example)) for example in examples]
    except ExceptionGroup as failed:
        raise _decisive(failed) from None
    results = [task.result() for task in pending]
    if all(result.error for result in results):
        raise NothingAnsweredError(
            f"every one of the {len(results)} examples failed, e.g. {results[0].error}; "
            "check the version's provider model id; nothing was stored"
        )
    return results


async def answer_example(example: EvalExample, ask: Ask) -> ExampleResult:
    """The version's answer to one example, scored by exact match with the expected text."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CALL_TIMEOUT_SECONDS):
            answer = await ask(example)
    except TimeoutError:
        raise ProviderTimeoutError(
            f"no answer to example {example.position} (line {example.line}) within "
            f"{CALL_TIMEOUT_SECONDS:g}s",
            provider="evaluate",
        ) from None
    except ProviderError as exc:
        if exc.scope is not FaultScope.REQUEST:
            raise
        return ExampleResult(
            position=example.position,
            example_sha256=example.sha256,
            expected=example.expected,
            predicted=None,
            correct=False,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            input_tokens=0,
            output_tokens=0,
            error=f"{type(exc).__name__}: {exc}",
        )
    return ExampleResult(
        position=example.position,
        example_sha256=example.sha256,
        expected=example.expected,
        predicted=answer.text,
        correct=answer.text == example.expected,
        latency_ms=answer.latency_ms,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
    )


def _decisive(failed: ExceptionGroup[Exception]) -> Exception:
    """The one fault that decides the run, unwrapped so Prefect's retry condition can read it:
    a fault that a retry cannot fix wins over one that it might."""
    return min(failed.exceptions, key=is_retryable)


class _Progress:
    """Counts finished examples and publishes the percentage every 1/PROGRESS_STEPS of them."""

    def __init__(self, total: int, publish: Publish | None) -> None:
        self._total = total
        self._every = max(1, total // PROGRESS_STEPS)
        self._publish = publish
        self._finished = 0
        self._published = 0.0
        self._lock = asyncio.Lock()

    async def done(self) -> None:
        self._finished += 1
        finished = self._finished
        if self._publish is None or (finished % self._every and finished != self._total):
            return
        percent = round(100.0 * finished / self._total, 1)
        async with self._lock:  # updates may finish out of order; never move backwards
            if percent > self._published:
                self._published = percent
                await self._publish(percent)

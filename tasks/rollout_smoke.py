"""Blue-green's smoke evaluation: examples of an eval dataset sent through the gateway to the
preview (PREVIEW_HEADER), each answer checked to come from the preview, the result judged
and persisted (registry.rollouts.blue_green). The flow reaches the gateway with a token it
creates for the smoke and revokes after it, so no secret passes through Prefect.

A gateway that cannot be reached says nothing about the candidate: the task fails, naming
the address, and the rollout waits at its preview for a rerun."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlparse

import httpx
from prefect import task
from prefect.cache_policies import NO_CACHE

from adapters.categories import Category
from registry.catalog_spec import GatesSpec
from registry.domain import Frozen, StagePolicy
from registry.evaluations import EvaluationRepository
from registry.model_repository import ModelRepository
from registry.rollouts.blue_green import SmokeAnswer, SmokeResult, record_smoke
from registry.rollouts.domain import Rollout
from registry.rollouts.repository import RolloutRepository
from registry.routing import PREVIEW_HEADER
from registry.tokens import Scope, TokenRepository
from tasks.context import unit_of_work
from tasks.evaluation_dataset import EvalExample, read_eval_dataset
from tasks.retry import CALL_TIMEOUT_SECONDS

READY_POLL_SECONDS = 0.25


class SmokeError(RuntimeError):
    """The smoke could not run (no dataset, no gateway): nothing was judged."""


class SmokePlan(Frozen):
    """What the smoke needs, read in one transaction."""

    rollout_id: int
    endpoint: str
    version: int
    category: str
    dataset: str
    min_accuracy: float | None


class SmokeSettings(Frozen):
    gateway_url: str
    dataset: str | None
    examples: int
    concurrency: int
    ready_seconds: float


@task(cache_policy=NO_CACHE)
def plan_smoke(rollout_id: int, dataset: str | None) -> SmokePlan:
    """The dataset (the run's, else the one the version was last evaluated on) and the
    accuracy gate of the endpoint's stage."""
    with unit_of_work() as (session, team):
        rollout = RolloutRepository(session, team).get(rollout_id)
        models = ModelRepository(session, team)
        model = models.get(rollout.model)
        version = models.version(rollout.model, rollout.version)
        latest = EvaluationRepository(session, team).latest_for_version(version.id)
        stage = rollout.environment.value if rollout.environment.value != "development" else None
        policy = model.policy.get(stage, StagePolicy()) if stage else StagePolicy()
    chosen = dataset or (dataset_path(latest.dataset_uri) if latest else None)
    if not chosen:
        raise SmokeError(
            f"rollout #{rollout_id}: blue-green smoke-tests the preview on an eval dataset; "
            f"give smoke.dataset, or evaluate {rollout.model} v{rollout.version} first (its "
            "evaluation's dataset is the default)"
        )
    gates = GatesSpec.model_validate(policy.gates)  # as evaluate and promote read them
    return SmokePlan(
        rollout_id=rollout_id,
        endpoint=rollout.endpoint,
        version=rollout.version,
        category=model.category,
        dataset=chosen,
        min_accuracy=gates.min_accuracy,
    )


def dataset_path(uri: str) -> str:
    """The local path of an evaluation's dataset URI (`file:///…`, as evaluate stores it)."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


@task(cache_policy=NO_CACHE)
async def smoke_preview(plan: SmokePlan, smoke: SmokeSettings) -> Rollout:
    """Run the smoke through the gateway and record its verdict (a failure rolls back)."""
    dataset = read_eval_dataset(plan.dataset)
    examples = dataset.examples[: smoke.examples]
    with _smoke_token(plan.rollout_id) as token:
        async with httpx.AsyncClient(
            base_url=smoke.gateway_url.rstrip("/"),
            headers={"authorization": f"Bearer {token}", PREVIEW_HEADER: str(plan.version)},
            timeout=CALL_TIMEOUT_SECONDS,
        ) as client:
            ask = _Asker(client, plan)
            first = await ask.once_ready(examples[0], smoke.ready_seconds)
            gate = asyncio.Semaphore(smoke.concurrency)

            async def one(example: EvalExample) -> SmokeAnswer:
                async with gate:
                    return await ask(example)

            answers = [first, *await asyncio.gather(*(one(e) for e in examples[1:]))]
    named = f"{dataset.name} ({len(answers)} of its {len(dataset.examples)} examples)"
    result = SmokeResult(dataset=named, answers=answers, min_accuracy=plan.min_accuracy)
    with unit_of_work() as (session, team):
        rollout, _ = record_smoke(session, team, plan.rollout_id, result)
        return rollout


class _Asker:
    """One example → one request to the preview; the answer must come from the preview."""

    def __init__(self, client: httpx.AsyncClient, plan: SmokePlan) -> None:
        self._client = client
        self._plan = plan

    async def __call__(self, example: EvalExample) -> SmokeAnswer:
        started = time.perf_counter()
        try:
            response = await self._send(example)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return self._answer(example, response, (time.perf_counter() - started) * 1000.0)

    def _answer(
        self, example: EvalExample, response: httpx.Response, latency_ms: float
    ) -> SmokeAnswer:
        if response.status_code != 200:
            return SmokeAnswer(latency_ms=latency_ms, error=_error_class(response))
        answered_by = response.headers.get("x-modelops-version")
        if answered_by != str(self._plan.version):
            return SmokeAnswer(latency_ms=latency_ms, error=f"answered by v{answered_by}")
        return SmokeAnswer(latency_ms=latency_ms, correct=self._correct(example, response))

    async def once_ready(self, example: EvalExample, seconds: float) -> SmokeAnswer:
        """The first example's answer, asked until the gateway serves the preview: it learns
        new routes by notice or on its periodic re-read, so it may not know it yet."""
        deadline = time.monotonic() + seconds
        while True:
            started = time.perf_counter()
            try:
                response = await self._send(example)
            except httpx.TransportError as exc:
                raise self._unreachable(exc) from None
            if not _no_preview(response):
                return self._answer(example, response, (time.perf_counter() - started) * 1000)
            if time.monotonic() >= deadline:
                raise SmokeError(
                    f"the gateway at {self._client.base_url} did not serve the preview of "
                    f"v{self._plan.version} on {self._plan.endpoint!r} within {seconds:g}s: "
                    f"{_message(response)}; a rerun resumes the rollout at its preview"
                )
            await asyncio.sleep(READY_POLL_SECONDS)

    async def _send(self, example: EvalExample) -> httpx.Response:
        plan = self._plan
        if plan.category == Category.CLASSIFICATION:
            return await self._client.post(
                f"/v1/endpoints/{plan.endpoint}/invoke", json={"text": example.text}
            )
        messages = [{"role": m.role.value, "content": m.content} for m in example.prompt]
        return await self._client.post(
            "/v1/chat/completions", json={"model": plan.endpoint, "messages": messages}
        )

    def _correct(self, example: EvalExample, response: httpx.Response) -> bool | None:
        body = response.json()
        if self._plan.category == Category.CLASSIFICATION:
            return bool(body.get("label") == example.expected)
        choices = body.get("choices") or [{}]
        return bool((choices[0].get("message") or {}).get("content") == example.expected)

    def _unreachable(self, exc: httpx.TransportError) -> SmokeError:
        return SmokeError(
            f"the smoke evaluation cannot reach the gateway at {self._client.base_url} "
            f"({type(exc).__name__}: {exc or 'no answer'}); start it or give smoke.gateway_url "
            f"(default: MODELOPS_PUBLIC_URL); a rerun resumes rollout #{self._plan.rollout_id} "
            "at its preview"
        )


@contextmanager
def _smoke_token(rollout_id: int) -> Iterator[str]:
    """An invoke-only token for this smoke, revoked when it ends (whatever happens)."""
    label = f"smoke-rollout-{rollout_id}-{secrets.token_hex(4)}"
    with unit_of_work() as (session, team):
        created = TokenRepository(session, team).create(label, [Scope.INVOKE])
    try:
        yield created.token.get_secret_value()
    finally:
        with unit_of_work() as (session, team):
            TokenRepository(session, team).revoke(created.details.id)


def _no_preview(response: httpx.Response) -> bool:
    if response.status_code != 400:
        return False
    try:
        return bool(response.json()["error"]["param"] == PREVIEW_HEADER)
    except (ValueError, KeyError, TypeError):
        return False


def _error_class(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return str(error.get("code") or error.get("type") or response.status_code)
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"http_{response.status_code}"


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"

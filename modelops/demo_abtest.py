"""The demo's A/B step: a short test between two versions of the demo model on an endpoint,
fed by a traffic source (synthetic clients, or real requests through the gateway) until
the ab-test flow reaches its verdict, which it prints.

`drive` is the loop a person's clients make implicitly: send a batch, let the flow look at
it, send the next; tests drive the flow with it too.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable

from rich.markup import escape
from sqlalchemy.orm import Session, sessionmaker

from flows.ab_test import ABTestOutcome, ab_test
from flows.params import ABTestParams, LookCadence
from modelops.abtest_traffic import TrafficSource
from modelops.cli.output import say_markup
from registry.abtests import ABTest, ABTestDefinition, ABTestRepository, ABTestStatus
from registry.abtests.lifecycle import create_test
from registry.domain import Team
from registry.endpoints import EndpointRepository, Environment, NewEndpoint, create_endpoint
from registry.model_repository import ModelRepository
from registry.stages import Stage

MODEL = "support-intent"
ENDPOINT = "support-intent-ab"
BATCH = 500  # requests per batch; the flow looks after each
LIVE = (Stage.DEVELOPMENT, Stage.TESTING, Stage.STAGING, Stage.PRODUCTION)


def run(
    traffic: TrafficSource,
    sessions: sessionmaker[Session],
    team: Team,
    *,
    step: str = "11.",
    max_batches: int = 60,
) -> ABTest:
    """Plan a test of the production version (a) against the newest other live version (b)
    on a development endpoint, run the flow here, feed it batches until its verdict."""
    with sessions.begin() as session:
        a, b = variants(session, team)
        _ensure_endpoint(session, team, a)
    traffic.send(ENDPOINT, 2 * BATCH)  # current traffic, all on a: what the plan sizes from
    with sessions.begin() as session:
        test = create_test(session, team, _definition(a, b))
    say_markup(
        f"{step} ab-test #{test.id}: v{a} (a) vs v{b} (b), 50/50 on {ENDPOINT}, sticky by "
        f"routing key; sequential, alpha 0.05, MDE 3 points, guardrail p95 latency +25%; "
        f"{escape(_plan_text(test))}"
    )
    cadence = LookCadence(every_requests=BATCH // 2, poll_seconds=0.2)
    params = ABTestParams(test_id=test.id, looks=cadence)
    outcome = start_flow(params)
    final = drive(traffic, ENDPOINT, _looks_of(sessions, team, test.id), BATCH, max_batches)
    result = outcome.wait()
    verdict = f"[bold]{result.verdict}[/bold]: {escape(result.reason)}"
    say_markup(f"   after {final.looks} looks: {verdict}")
    say_markup(f"   {escape(result.action)}")
    say_markup(f"   details: modelops ab show {test.id}")
    with sessions.begin() as session:
        return ABTestRepository(session, team).get(test.id)


def _definition(a: int, b: int) -> ABTestDefinition:
    return ABTestDefinition.model_validate(
        {
            "endpoint": ENDPOINT,
            "variants": [{"version": a, "weight": 50}, {"version": b, "weight": 50}],
            "primary": {"metric": "success_rate", "mde": 0.03},
            "guardrails": [{"metric": "latency_p95", "margin": 0.25, "relative": True}],
            "promote_to": None,
            "name": "demo: success rate of two versions",
            "actor": "demo",
        }
    )


def _plan_text(test: ABTest) -> str:
    plan = test.plan
    if plan.n_a is None or plan.expected_minutes is None:
        return plan.note
    return (
        f"the plan: {plan.n_a} + {plan.n_b} requests (a fixed horizon would need "
        f"{plan.fixed_n_a} + {plan.fixed_n_b}), about {plan.expected_minutes:.0f} min at the "
        f"current {plan.requests_per_minute:.3g} requests per minute; it may stop earlier"
    )


def variants(session: Session, team: Team) -> tuple[int, int]:
    """(a, b): the production version, and the newest other live one."""
    models = ModelRepository(session, team)
    live = [v for v in models.versions(MODEL) if v.stage in LIVE]
    production = next((v.version for v in live if v.stage is Stage.PRODUCTION), None)
    others = sorted((v.version for v in live if v.version != production), reverse=True)
    if production is None or not others:
        raise RuntimeError(f"the A/B demo needs a production version of {MODEL} and another")
    return production, others[0]


def _ensure_endpoint(session: Session, team: Team, version: int) -> None:
    names = {e.name for e in EndpointRepository(session, team).list()}
    if ENDPOINT not in names:
        new = NewEndpoint(
            name=ENDPOINT, model=MODEL, environment=Environment.DEVELOPMENT, version=version,
            actor="demo", reason="demo: an endpoint to A/B test on",
        )  # fmt: skip
        create_endpoint(session, team, new)


class FlowInThread:
    """The ab-test flow running in a thread of this process (as the demo runs flows)."""

    def __init__(self, params: ABTestParams) -> None:
        self._box: dict[str, ABTestOutcome | BaseException] = {}
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._run, params), daemon=True
        )
        self._thread.start()

    def _run(self, params: ABTestParams) -> None:
        try:
            self._box["result"] = asyncio.run(ab_test(params))
        except BaseException as exc:  # handed to the caller by wait()
            self._box["result"] = exc

    def wait(self, timeout: float = 600) -> ABTestOutcome:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the ab-test flow did not finish within {timeout:g}s")
        result = self._box["result"]
        if isinstance(result, BaseException):
            raise result
        return result

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()


def start_flow(params: ABTestParams) -> FlowInThread:
    return FlowInThread(params)


def _looks_of(sessions: sessionmaker[Session], team: Team, test_id: int) -> Callable[[], ABTest]:
    def read() -> ABTest:
        with sessions.begin() as session:
            return ABTestRepository(session, team).get(test_id)

    return read


def drive(
    traffic: TrafficSource,
    endpoint: str,
    read: Callable[[], ABTest],
    batch: int,
    max_batches: int,
    *,
    timeout: float = 120,
) -> ABTest:
    """Send a batch once the test runs and after each look, until it leaves RUNNING."""
    test = _wait(read, lambda t: t.status is not ABTestStatus.PLANNED, timeout, "the start")
    for _ in range(max_batches):
        if test.status is not ABTestStatus.RUNNING:
            return test
        traffic.send(endpoint, batch)
        test = _wait(read, _looked_since(test.looks), timeout, "the flow to look at the batch")
    raise RuntimeError(f"no verdict after {max_batches} batches of {batch} requests")


def _looked_since(looks: int) -> Callable[[ABTest], bool]:
    def looked(test: ABTest) -> bool:
        return test.looks > looks or test.status is not ABTestStatus.RUNNING

    return looked


def _wait(
    read: Callable[[], ABTest], done: Callable[[ABTest], bool], timeout: float, what: str
) -> ABTest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        test = read()
        if done(test):
            return test
        time.sleep(0.05)  # the flow runs elsewhere; its progress is only visible in the DB
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")

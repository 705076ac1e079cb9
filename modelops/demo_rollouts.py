"""The demo's rollouts step: the deploy flow rolls a new version onto an endpoint by canary
while synthetic clients send traffic (routed by the endpoint's real sticky route table,
their outcomes stored as the gateway's writer stores them); it advances step by step and
reaches 100%. Then a broken version (its provider fails a tenth of requests) is rolled back
automatically within its first step, and the measurement that decided is printed. Last, a
blue-green switch: a preview smoke-tested through a gateway, then the switch, watched for
its rollback window.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from datetime import datetime

from rich.markup import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flows.deploy import DeployOutcome, deploy, undeploy
from flows.params import DeployLooks, DeployParams, DeploySmoke, UndeployParams
from modelops.abtest_traffic import SyntheticTraffic
from modelops.cli.output import say_markup
from modelops.demo_gateway import serving
from modelops.settings import Settings
from registry.domain import Team
from registry.endpoints import EndpointRepository, Environment, NewEndpoint, create_endpoint
from registry.endpoints.tables import EndpointRow
from registry.errors import NotFoundError
from registry.evaluations import EvaluationRepository
from registry.lifecycle import NewVersion, register_version
from registry.model_repository import ModelRepository
from registry.outcomes.tables import OutcomeRow
from registry.rollouts.arms import p95_ms
from registry.rollouts.domain import (
    ArmSums,
    DecisionKind,
    Measurement,
    Rollout,
    RolloutStatus,
    Verdict,
)
from registry.rollouts.policy import RolloutOverrides
from registry.rollouts.repository import RolloutRepository
from registry.stages import Stage
from registry.tables import ModelVersionRow
from tasks.rollout_smoke import dataset_path

MODEL = "support-intent"
ENDPOINT = "support-intent-canary"
BATCH = 1000  # requests the clients send before each look
BLUE_GREEN = RolloutOverrides(
    strategy="blue-green", min_samples=300, rollback_window_seconds=5,
    max_error_rate_increase=0.01, max_latency_increase_ratio=0.25, max_looks=30,
)  # fmt: skip
POLICY = RolloutOverrides(
    strategy="canary", steps=[20, 50, 100], bake_seconds=0, min_samples=300,
    max_error_rate_increase=0.01, max_latency_increase_ratio=0.25, max_looks=30,
)  # fmt: skip


def run(
    sessions: sessionmaker[Session], team: Team, settings: Settings, *, step: str = "12."
) -> None:
    """Three rollouts on a development endpoint serving the production version: a good
    canary promoted, a broken one rolled back, then a blue-green switch."""
    with sessions.begin() as session:
        stable, good, broken = _versions(session, team)
    say_markup(
        f"{step} deploy by canary onto {ENDPOINT} (serving v{stable}): steps "
        f"{', '.join(f'{w}%' for w in POLICY.steps or [])}; each step needs {POLICY.min_samples} "
        f"requests a version and is judged after every {BATCH} (error rate within "
        f"+{POLICY.max_error_rate_increase:.0%}, latency within "
        f"+{POLICY.max_latency_increase_ratio:.0%}, sequential)"
    )
    success = {stable: 0.99, good: 0.99, broken: 0.90}
    latency = {stable: 40.0, good: 38.0, broken: 41.0}
    traffic = SyntheticTraffic(sessions, team, success=success, median_latency_ms=latency, seed=12)
    promoted = _deploy(sessions, team, traffic, _params(good, POLICY))
    say_markup(f"   v{good}: [bold]{promoted.status}[/bold]: {escape(promoted.outcome)}")
    say_markup(f"   v{broken}: its provider fails a tenth of requests")
    rolled = _deploy(sessions, team, traffic, _params(broken, POLICY))
    say_markup(f"   v{broken}: [bold]{rolled.status}[/bold] in step {rolled.step}")
    deciding = _last_measurement(sessions, team, rolled.rollout_id)
    say_markup(f"   the deciding measurement: {escape(_numbers(deciding))}")
    for reason in deciding.reasons:
        say_markup(f"     {escape(reason)}")
    say_markup(f"   details: modelops rollouts show {rolled.rollout_id}")
    _blue_green(sessions, team, settings, good)


def _blue_green(
    sessions: sessionmaker[Session], team: Team, settings: Settings, stable: int
) -> None:
    """A blue-green switch through a gateway: the preview answers only the smoke (sent with
    x-modelops-preview) while the clients' traffic stays on the stable version."""
    with sessions.begin() as session:
        candidate, dataset = _blue_green_version(session, team)
    window = BLUE_GREEN.rollback_window_seconds
    say_markup(
        f"   blue-green: v{candidate} gets a preview route on {ENDPOINT} (no user traffic), a "
        f"smoke evaluation through the gateway, then the switch; v{stable} stays warm for "
        f"{window}s after it")  # fmt: skip
    success, latency = {stable: 0.99, candidate: 0.99}, {stable: 38.0, candidate: 37.0}
    traffic = SyntheticTraffic(sessions, team, success=success, median_latency_ms=latency, seed=15)
    # The embedded database sends no NOTIFY: the gateway re-reads routes often instead.
    with serving(settings.model_copy(update={"gateway_refresh_seconds": 0.25})) as url:
        smoke = DeploySmoke(dataset=dataset, gateway_url=url, examples=50)
        params = _params(candidate, BLUE_GREEN).model_copy(update={"smoke": smoke})
        switched = _deploy(sessions, team, traffic, params, narrate=False)
    with sessions.begin() as session:
        rollouts = RolloutRepository(session, team)
        looked = rollouts.measurements(switched.rollout_id)
        (switch,) = [
            d for d in rollouts.decisions(switched.rollout_id) if d.kind is DecisionKind.SWITCH
        ]
        served = _served_before(session, team, switched.rollout_id, switch.at)
    smoked, watched = looked[0], looked[-1]
    details = escape("; ".join(c.detail for c in smoked.checks))
    say_markup(f"     smoke on the preview: {details} -> [bold]{smoked.verdict}[/bold]")
    say_markup(
        f"     while previewed, requests served: {_counts(served)} (the preview: the smoke's only)"
    )
    routes = ", ".join(f"v{r.version}={r.weight}% {r.role}" for r in switch.routes)
    say_markup(f"     switched: {routes}")
    say_markup(f"     watched for {window}s against v{stable}'s last hour: {_numbers(watched)} -> "
        f"[bold]{watched.verdict}[/bold]")  # fmt: skip
    say_markup(f"   v{candidate}: [bold]{switched.status}[/bold]: {escape(switched.outcome)}")
    ended = asyncio.run(undeploy(UndeployParams(endpoint=ENDPOINT, actor="demo",
                                                reason="demo: the rollouts are done")))  # fmt: skip
    say_markup(f"   undeploy: {ended.endpoint} is {ended.status} (its routes kept for the record: "
        f"{ended.routes})")  # fmt: skip


def _served_before(
    session: Session, team: Team, rollout_id: int, until: datetime
) -> dict[int, int]:
    """Requests per version on the endpoint from the preview's start until `until`."""
    rollout = RolloutRepository(session, team).get(rollout_id)
    assert rollout.started_at is not None
    query = (
        select(ModelVersionRow.version, func.count())
        .join(OutcomeRow, OutcomeRow.model_version_id == ModelVersionRow.id)
        .join(EndpointRow, EndpointRow.id == OutcomeRow.endpoint_id)
        .where(EndpointRow.name == ENDPOINT, EndpointRow.team_id == team.id)
        .where(OutcomeRow.at >= rollout.started_at, OutcomeRow.at < until)
        .group_by(ModelVersionRow.version)
    )
    return {int(version): int(count) for version, count in session.execute(query)}


def _counts(served: dict[int, int]) -> str:
    return ", ".join(f"v{version} {count}" for version, count in sorted(served.items()))


def _params(version: int, policy: RolloutOverrides) -> DeployParams:
    return DeployParams(
        endpoint=ENDPOINT, version=version, actor="demo", reason="demo rollout", policy=policy,
        looks=DeployLooks(every_requests=BATCH, every_seconds=5, poll_seconds=0.1),
    )  # fmt: skip


def _deploy(
    sessions: sessionmaker[Session], team: Team, traffic: SyntheticTraffic, params: DeployParams,
    *, narrate: bool = True,
) -> DeployOutcome:  # fmt: skip
    version = params.version
    flow = _FlowThread(params)
    seen = 0
    deadline = time.monotonic() + 120
    while not flow.done and time.monotonic() < deadline:
        rollout = _current(sessions, team, version)
        if rollout is None or rollout.status is RolloutStatus.PENDING:
            time.sleep(0.05)  # the flow has not set the first step yet
            continue
        if rollout.status is not RolloutStatus.PROGRESSING:
            break
        traffic.send(ENDPOINT, BATCH)
        seen = _wait_for_look(sessions, team, rollout, seen, lambda: flow.done, narrate)
    return flow.result()


def _wait_for_look(
    sessions: sessionmaker[Session], team: Team, rollout: Rollout, seen: int,
    done: Callable[[], bool], narrate: bool,
) -> int:  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not done():
        with sessions.begin() as session:
            looked = RolloutRepository(session, team).measurements(rollout.id)
        if len(looked) > seen:
            if narrate:
                _narrate(looked[seen:])
            return len(looked)
        time.sleep(0.05)  # the flow looks in its own thread; its looks are only in the DB
    return seen


def _narrate(measurements: list[Measurement]) -> None:
    """A line per judged measurement; undecided ones are only counted, as they pile up."""
    for m in measurements:
        if m.verdict is Verdict.INCONCLUSIVE:
            _HELD.append(m.number)
            continue
        held = f" (after {len(_HELD)} undecided looks)" if _HELD else ""
        _HELD.clear()
        say_markup(f"     step {m.step + 1}, measurement {m.number}{held}: {_numbers(m)} -> "
            f"[bold]{m.verdict}[/bold]")  # fmt: skip


_HELD: list[int] = []  # undecided measurements since the last judged one


def _numbers(m: Measurement) -> str:
    return f"baseline {_arm(m.baseline)}; candidate {_arm(m.candidate)}"


def _arm(arm: ArmSums) -> str:
    rate = "-" if arm.error_rate is None else f"{arm.error_rate:.2%}"
    p95 = p95_ms(arm)
    shown = "-" if p95 is None else f"{p95:.0f} ms"
    return f"{arm.requests} requests, {rate} errors, p95 {shown}"


def _last_measurement(sessions: sessionmaker[Session], team: Team, rollout_id: int) -> Measurement:
    with sessions.begin() as session:
        return RolloutRepository(session, team).measurements(rollout_id)[-1]


def _current(sessions: sessionmaker[Session], team: Team, version: int) -> Rollout | None:
    with sessions.begin() as session:
        found = [r for r in RolloutRepository(session, team).list(endpoint=ENDPOINT)
                 if r.version == version]  # fmt: skip
    return found[-1] if found else None


def _versions(session: Session, team: Team) -> tuple[int, int, int]:
    """The production version, and two new versions of its artifact: one will be healthy,
    the other is served by a provider that fails (the synthetic clients play that part)."""
    models = ModelRepository(session, team)
    production = models.production(MODEL)
    if production is None:
        raise RuntimeError(f"the rollouts demo needs a production version of {MODEL}")
    new = [
        register_version(session, team, NewVersion(
            model=MODEL, provider_model_id=production.provider_model_id, actor="demo",
            reason=f"demo: {what}",
        )).version
        for what in ("a candidate for the canary", "a candidate whose provider is failing")
    ]  # fmt: skip
    try:
        EndpointRepository(session, team).get(ENDPOINT)
    except NotFoundError:
        create_endpoint(session, team, NewEndpoint(
            name=ENDPOINT, model=MODEL, environment=Environment.DEVELOPMENT,
            version=production.version, actor="demo", reason="demo: an endpoint to roll out on",
        ))  # fmt: skip
    assert production.stage is Stage.PRODUCTION
    return production.version, new[0], new[1]


def _blue_green_version(session: Session, team: Team) -> tuple[int, str]:
    """One more version of the production artifact, and the dataset production was last
    evaluated on (the smoke's examples)."""
    models = ModelRepository(session, team)
    production = models.production(MODEL)
    assert production is not None
    latest = EvaluationRepository(session, team).latest_for_version(production.id)
    assert latest is not None, "the demo evaluated its production version"
    version = register_version(session, team, NewVersion(
        model=MODEL, provider_model_id=production.provider_model_id, actor="demo",
        reason="demo: a candidate for blue-green",
    )).version  # fmt: skip
    return version, dataset_path(latest.dataset_uri)


class _FlowThread:
    """The deploy flow in a thread of this process (as the demo runs flows)."""

    def __init__(self, params: DeployParams) -> None:
        self._box: dict[str, DeployOutcome | BaseException] = {}
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._run, params), daemon=True
        )
        self._thread.start()

    def _run(self, params: DeployParams) -> None:
        try:
            self._box["result"] = asyncio.run(deploy(params))
        except BaseException as exc:  # handed to the caller by result()
            self._box["result"] = exc

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self, timeout: float = 120) -> DeployOutcome:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the deploy flow did not finish within {timeout:g}s")
        found = self._box["result"]
        if isinstance(found, BaseException):
            raise found
        return found

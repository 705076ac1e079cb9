"""Tasks of the deploy and undeploy flows: record or resume the rollout, start it, wait for
data, look (measure, judge, decide), and the lease that keeps one run driving it. Each task
is one unit of database work; retried only on transient faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import task
from prefect.cache_policies import NO_CACHE

from registry.domain import Frozen
from registry.endpoints import Endpoint, EndpointRepository, Environment
from registry.model_repository import ModelRepository
from registry.orm import utcnow
from registry.rollouts.blue_green import refuse_switch, switch
from registry.rollouts.domain import Measurement, Rollout, RolloutStatus, Strategy
from registry.rollouts.lease import driving
from registry.rollouts.lifecycle import DeployRequest, create_rollout, start_rollout
from registry.rollouts.policy import RolloutOverrides, rollout_policy
from registry.rollouts.repository import RolloutRepository
from registry.rollouts.settle import abort_rollout, resume_rollout
from registry.rollouts.steps import step_window, take_look
from registry.rollouts.undeploy import undeploy_version, undeploy_whole
from registry.stages import Stage
from tasks.context import database, unit_of_work
from tasks.retry import is_transient, retry_on_transient


class LookTaken(Frozen):
    rollout: Rollout
    measurement: Measurement | None
    decision: str | None


class Target(Frozen):
    """What a deploy needs to know before it records anything."""

    model: str
    environment: Environment
    stage: Stage
    strategy: Strategy  # the policy's, with the run's overrides
    resumes: int | None  # the active rollout of this version on the endpoint, if any
    approval_id: int | None


@task(cache_policy=NO_CACHE)
def inspect_target(endpoint: str, version: int, overrides: RolloutOverrides | None) -> Target:
    with unit_of_work() as (session, team):
        endpoints = EndpointRepository(session, team)
        row = endpoints.row(endpoint)
        model = endpoints.model_name(row)
        models = ModelRepository(session, team)
        stage = models.version(model, version).stage
        strategy = rollout_policy(models.get(model).rollout, overrides).strategy
        rollouts = RolloutRepository(session, team)
        active = rollouts.active_on(row.id)
        mine = rollouts.view(active) if active is not None else None
        if mine is not None and mine.version != version:
            mine = None  # another version's: open_rollout refuses, naming it
        return Target(
            model=model,
            environment=Environment(row.environment),
            stage=stage,
            strategy=mine.strategy if mine else strategy,
            resumes=mine.id if mine else None,
            approval_id=mine.approval_id if mine else None,
        )


@task(cache_policy=NO_CACHE)
def open_rollout(request: DeployRequest) -> Rollout:
    """The rollout of this version on the endpoint: the active one (a rerun resumes it) or a
    new pending one. Never retried: a retry after a lost commit would find it anyway."""
    with unit_of_work() as (session, team):
        return create_rollout(session, team, request)


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_transient
)
def begin_rollout(rollout_id: int, flow_run_id: str | None) -> Rollout:
    """Claim the endpoint and set the first step (a started rollout is left as it is)."""
    with unit_of_work() as (session, team):
        return start_rollout(session, team, rollout_id, flow_run_id=flow_run_id)


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_transient
)
def look_at_rollout(rollout_id: int) -> LookTaken:
    """One measurement of the step, persisted with the decision it led to."""
    with unit_of_work() as (session, team):
        taken = take_look(session, team, rollout_id)
        kind = taken.decision.kind.value if taken.decision else None
        return LookTaken(rollout=taken.rollout, measurement=taken.measurement, decision=kind)


@task(cache_policy=NO_CACHE)
def answer_rollout(rollout_id: int, action: str, actor: str, reason: str) -> Rollout:
    """Apply a person's answer to a paused rollout: resume it or roll it back. An answer the
    database already has (given with `modelops rollouts …`) changes nothing."""
    with unit_of_work() as (session, team):
        rollout = RolloutRepository(session, team).get(rollout_id)
        if rollout.status is not RolloutStatus.PAUSED:
            return rollout
        if action == "resume":
            return resume_rollout(session, team, rollout_id, actor=actor, reason=reason)
        return abort_rollout(session, team, rollout_id, actor=actor, reason=reason)


@task(cache_policy=NO_CACHE)
def switch_rollout(rollout_id: int, approval_id: int | None, actor: str) -> Rollout:
    """Blue-green: the candidate takes all traffic, the old stays warm (see blue_green)."""
    with unit_of_work() as (session, team):
        switch(session, team, rollout_id, actor=actor, approval_id=approval_id)
        return RolloutRepository(session, team).get(rollout_id)


@task(cache_policy=NO_CACHE)
def keep_blue(rollout_id: int, actor: str, reason: str) -> Rollout:
    """Blue-green without a switch: the preview goes, the old version serves on."""
    with unit_of_work() as (session, team):
        return refuse_switch(session, team, rollout_id, actor=actor, reason=reason)


def current(rollout_id: int) -> Rollout:
    with unit_of_work() as (session, team):
        return RolloutRepository(session, team).get(rollout_id)


def measurements(rollout_id: int) -> list[Measurement]:
    with unit_of_work() as (session, team):
        return RolloutRepository(session, team).measurements(rollout_id)


@contextmanager
def lease(rollout_id: int, holder: str) -> Iterator[None]:
    """This run drives the rollout until the block ends (see registry.rollouts.lease)."""
    with driving(database().engine, rollout_id, holder=holder):
        yield


@task(cache_policy=NO_CACHE)
async def wait_for_look(
    rollout_id: int, every_requests: int, every_seconds: float, poll_seconds: float
) -> str:
    """Until it is time to look, and why: `every_requests` requests in the step since the
    last measurement, `every_seconds` waited, or the rollout changed by a person. A poll
    that fails (the database away) is simply tried again next time."""
    started = time.monotonic()
    while True:
        try:
            status, unjudged = await asyncio.to_thread(_pending, rollout_id)
        except Exception as exc:
            if not is_transient(exc):
                raise
            status, unjudged = RolloutStatus.PROGRESSING, 0
        if status is not RolloutStatus.PROGRESSING:
            return f"the rollout is {status}"
        if unjudged >= every_requests:
            return f"{unjudged} new requests"
        if time.monotonic() - started >= every_seconds:
            return f"{every_seconds:g} s passed"
        await asyncio.sleep(poll_seconds)


def _pending(rollout_id: int) -> tuple[RolloutStatus, int]:
    """The status and the requests of the step's window not yet in a measurement."""
    with unit_of_work() as (session, team):
        rollouts = RolloutRepository(session, team)
        row = rollouts.row(rollout_id)
        status = RolloutStatus(row.status)
        if status is not RolloutStatus.PROGRESSING or row.started_at is None:
            return status, 0
        baseline, candidate = step_window(session, team, row, utcnow())
        seen = [m for m in rollouts.measurements(rollout_id) if m.step == row.step]
        judged = seen[-1].candidate.requests + seen[-1].baseline.requests if seen else 0
        if row.prior_baseline is not None:
            judged = seen[-1].candidate.requests if seen else 0
            return status, candidate.requests - judged
        return status, baseline.requests + candidate.requests - judged


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_transient
)
def take_off(endpoint: str, version: int | None, actor: str, reason: str) -> Endpoint:
    with unit_of_work() as (session, team):
        if version is None:
            return undeploy_whole(session, team, endpoint, actor=actor, reason=reason)
        return undeploy_version(session, team, endpoint, version, actor=actor, reason=reason)


def endpoint_routes(endpoint: str) -> str:
    """The endpoint's routes now, as `v1=90% stable, v2=10% canary`."""
    with unit_of_work() as (session, team):
        routes = EndpointRepository(session, team).get(endpoint).routes
    return ", ".join(f"v{r.version}={r.weight}% {r.role}" for r in routes)

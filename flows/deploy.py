"""deploy and undeploy: roll a version onto an endpoint step by step, judged on the
gateway's measured traffic, rolled back at once on a failed step; take a version (or the
endpoint) off traffic.

Every step is keyed on the rollout's state in the database, so a crashed run resumes by
running again with the same parameters (same rollout, same step, no measurement lost);
a lease keeps a second live run off it, and a deploy of another version is refused while
one runs.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run

from flows.params import DeployParams, UndeployParams
from flows.promote import wait_for_decision
from flows.rollout_form import RolloutAnswer, paused_markdown
from registry.domain import ApprovalStatus, Frozen
from registry.endpoints import Environment
from registry.rollouts.blue_green import PREVIEW_STEP
from registry.rollouts.domain import Rollout, RolloutStatus, Strategy, Verdict
from registry.rollouts.lifecycle import DeployRequest
from registry.stages import Stage
from tasks.approval_watch import heartbeat
from tasks.context import current_flow_run_id, settings
from tasks.promotion import gather_evidence, open_approval
from tasks.rollout import (
    Target,
    answer_rollout,
    begin_rollout,
    current,
    endpoint_routes,
    inspect_target,
    keep_blue,
    lease,
    look_at_rollout,
    measurements,
    open_rollout,
    switch_rollout,
    take_off,
    wait_for_look,
)
from tasks.rollout_report import publish_progress
from tasks.rollout_smoke import SmokeSettings, plan_smoke, smoke_preview


class DeployRefused(Exception):
    """The deploy did not start: a gate failed or the production approval was not given."""


class DeployOutcome(Frozen):
    rollout_id: int
    endpoint: str
    version: int
    strategy: str
    status: str
    step: int
    outcome: str
    measurements: int

    @classmethod
    def of(cls, rollout: Rollout) -> DeployOutcome:
        return cls(
            rollout_id=rollout.id,
            endpoint=rollout.endpoint,
            version=rollout.version,
            strategy=rollout.strategy.value,
            status=rollout.status.value,
            step=rollout.step + 1,
            outcome=rollout.outcome,
            measurements=rollout.measurements,
        )


@flow(
    name="deploy",
    flow_run_name="deploy-{params.endpoint}-v{params.version}",
    description="Roll a version onto an endpoint (direct, rolling, canary, blue-green or "
    "shadow), judge every step on the gateway's rollups, roll back at once on a failure, "
    "move the registry's stage with the routes.",
)
async def deploy(params: DeployParams) -> DeployOutcome:
    logger = get_run_logger()
    target = inspect_target(params.endpoint, params.version, params.policy)
    # Blue-green: a smoke that cannot run is refused before anything is recorded, and the
    # production approval is asked after the smoke.
    smoke = _smoke_settings(params) if target.strategy is Strategy.BLUE_GREEN else None
    if smoke is not None:
        approval_id = target.approval_id or params.approval_id
    else:
        approval_id = await _production_approval(params, target)
    request = DeployRequest(
        endpoint=params.endpoint,
        version=params.version,
        actor=params.actor,
        reason=params.reason,
        overrides=params.policy,
        approval_id=approval_id,
    )
    rollout = open_rollout(request)
    with lease(rollout.id, holder=f"deploy-{params.endpoint}-v{params.version}"):
        rollout = begin_rollout(rollout.id, current_flow_run_id())
        await publish_progress(rollout, _weights(rollout))
        logger.info("rollout #%s: %s of v%s, step %s", rollout.id, rollout.strategy,
                    rollout.version, rollout.step + 1)  # fmt: skip
        if smoke is not None:
            rollout = await _preview_then_switch(rollout, params, target, smoke)
        rollout = await _drive(rollout, params)
    logger.info("rollout #%s %s: %s", rollout.id, rollout.status, rollout.outcome)
    return DeployOutcome.of(rollout)


async def _preview_then_switch(
    rollout: Rollout, params: DeployParams, target: Target, smoke: SmokeSettings
) -> Rollout:
    """Blue-green up to its switch: the smoke on the preview (unless a passed one is on
    record), the production approval when the switch needs one, then the switch. A rerun
    picks up at whichever of these is not done."""
    logger = get_run_logger()
    if rollout.status is not RolloutStatus.PROGRESSING or rollout.step != PREVIEW_STEP:
        return rollout
    looked = measurements(rollout.id)
    if not looked or looked[-1].verdict is not Verdict.PASS:
        logger.info("rollout #%s: smoke evaluation of the preview v%s through %s",
                    rollout.id, rollout.version, smoke.gateway_url)  # fmt: skip
        rollout = await smoke_preview(plan_smoke(rollout.id, params.smoke.dataset), smoke)
        await publish_progress(rollout, _weights(rollout))
        last = measurements(rollout.id)[-1]
        logger.info("smoke (measurement %s): %s; %s", last.number, last.verdict,
                    "; ".join(last.reasons))  # fmt: skip
        if rollout.status is not RolloutStatus.PROGRESSING:
            return rollout
    approval_id = rollout.approval_id
    if approval_id is None:
        try:
            approval_id = await _production_approval(params, target)
        except DeployRefused as refused:
            return keep_blue(rollout.id, "rollout", str(refused))
    rollout = switch_rollout(rollout.id, approval_id, params.actor)
    await publish_progress(rollout, _weights(rollout))
    logger.info("rollout #%s: switched to v%s; the old stays warm for %ss",
                rollout.id, rollout.version, rollout.policy.rollback_window_seconds)  # fmt: skip
    return rollout


def _smoke_settings(params: DeployParams) -> SmokeSettings:
    url = params.smoke.gateway_url or settings().public_url
    if not url:
        raise DeployRefused(
            "blue-green smoke-tests the preview through the gateway: give smoke.gateway_url "
            "or set MODELOPS_PUBLIC_URL; nothing deployed"
        )
    return SmokeSettings(
        gateway_url=url,
        dataset=params.smoke.dataset,
        examples=params.smoke.examples,
        concurrency=params.smoke.concurrency,
        ready_seconds=params.smoke.ready_seconds,
    )


async def _drive(rollout: Rollout, params: DeployParams) -> Rollout:
    """Look after every batch of requests until the rollout ends; a paused one waits for a
    person in the Prefect UI (or `modelops rollouts resume|abort`)."""
    logger = get_run_logger()
    looks = params.looks
    while rollout.status in (RolloutStatus.PROGRESSING, RolloutStatus.PAUSED):
        if rollout.status is RolloutStatus.PAUSED:
            logger.info("rollout #%s is paused: %s", rollout.id, rollout.outcome)
            rollout = await _wait_for_person(rollout, params.approval_timeout_seconds)
            if rollout.status is RolloutStatus.PAUSED:
                break  # nobody answered: the rollout stays paused, a rerun resumes it
            continue
        why = await wait_for_look(
            rollout.id, looks.every_requests, looks.every_seconds, looks.poll_seconds
        )
        taken = look_at_rollout(rollout.id)
        rollout = taken.rollout
        if taken.measurement is not None:
            m = taken.measurement
            logger.info("measurement %s (%s): %s -> %s; %s", m.number, why, m.verdict,
                        taken.decision, "; ".join(m.reasons))  # fmt: skip
            await publish_progress(rollout, _weights(rollout))
    await publish_progress.fn(rollout, _weights(rollout))
    return rollout


async def _wait_for_person(rollout: Rollout, timeout: int) -> Rollout:
    """Pause the run with the evidence above a resume/roll-back form; apply the answer."""
    form = RolloutAnswer.with_initial_data(
        description=paused_markdown(rollout, measurements(rollout.id))
    )
    try:
        answer = await apause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=2)
    except FlowPauseTimeout:
        get_run_logger().warning("rollout #%s: nobody answered within %ss", rollout.id, timeout)
        return current(rollout.id)
    return answer_rollout.fn(rollout.id, answer.action.value, answer.actor, answer.reason)


async def _production_approval(params: DeployParams, target: Target) -> int | None:
    """A staging version rolled onto a production endpoint enters production when the
    rollout succeeds: approved now, on the condition that the rollout passes (and refused
    if it fails), through promote's approval machinery."""
    if target.resumes is not None and target.approval_id is not None:
        return target.approval_id
    if target.resumes is not None and target.strategy is not Strategy.BLUE_GREEN:
        return None  # a resumed rollout started with the approval it needed
    if params.approval_id is not None:
        return params.approval_id
    if target.environment is not Environment.PRODUCTION or target.stage is not Stage.STAGING:
        return None
    evidence = gather_evidence(target.model, params.version, Stage.PRODUCTION)
    if not evidence.gates_pass:
        raise DeployRefused(f"production gates failed: {'; '.join(evidence.gate_failures)}")
    if not evidence.policy.approvers:
        return None
    timeout = params.approval_timeout_seconds
    approval = open_approval(evidence, params.actor, current_flow_run_id(), timeout)
    async with heartbeat(approval.id):
        settled = await wait_for_decision(evidence, approval, timeout)
    if settled.approval.status is not ApprovalStatus.APPROVED:
        raise DeployRefused(f"approval #{approval.id} {settled.reason}; nothing deployed")
    return approval.id


def _weights(rollout: Rollout) -> str:
    return endpoint_routes(rollout.endpoint)


class UndeployOutcome(Frozen):
    endpoint: str
    status: str
    routes: str


@flow(
    name="undeploy",
    flow_run_name="undeploy-{params.endpoint}",
    description="Take a version off an endpoint (its weight moves to the others in one "
    "transaction) or the whole endpoint; recorded in the route ledger.",
)
async def undeploy(params: UndeployParams) -> UndeployOutcome:
    endpoint = take_off(params.endpoint, params.version, params.actor, params.reason)
    routes = ", ".join(f"v{r.version}={r.weight}% {r.role}" for r in endpoint.routes)
    get_run_logger().info("%s is %s: %s", endpoint.name, endpoint.status, routes)
    return UndeployOutcome(endpoint=endpoint.name, status=endpoint.status.value, routes=routes)

"""ab-test: split an endpoint between two versions, look at the rollups until the data give
a sound verdict (or the maximum duration passes), then act on it: a winning b is promoted
with its approval and serves the endpoint alone; anything else restores the routes.

The looks are a loop, each after enough new requests (or time): a Prefect pause cannot be
the timer, since a pause that times out fails the run. A crashed run resumes by running
again with the test's id: every step is keyed on the test's state in the database.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.params import ABTestParams, PromoteParams, PromotionTarget
from flows.promote import PromotionRefused, promote
from registry.abtests import ABTest, ABTestStatus, VerdictKind
from registry.domain import Frozen
from registry.endpoints import Environment
from tasks.abtest import (
    finish_ab_test,
    look_at_ab_test,
    open_ab_test,
    start_ab_test,
    wait_for_look,
)
from tasks.abtest_report import publish_look, publish_plan, publish_verdict
from tasks.context import current_flow_run_id

MAX_REASON = 2000  # what a promotion's reason may hold


class ABTestOutcome(Frozen):
    test_id: int
    endpoint: str
    status: str
    verdict: str | None
    reason: str
    action: str
    looks: int

    @classmethod
    def of(cls, test: ABTest) -> ABTestOutcome:
        return cls(
            test_id=test.id,
            endpoint=test.endpoint,
            status=test.status.value,
            verdict=test.verdict.value if test.verdict else None,
            reason=test.verdict_reason,
            action=test.action,
            looks=test.looks,
        )


@flow(
    name="ab-test",
    flow_run_name="ab-test-{params.label}",
    description="Split an endpoint between two versions (sticky by routing key), look at the "
    "rollups until a sound verdict, then promote the winner with its approval and roll it on.",
)
async def ab_test(params: ABTestParams) -> ABTestOutcome:
    logger = get_run_logger()
    test = open_ab_test(params.test_id, params.definition)
    if test.status in (ABTestStatus.PLANNED, ABTestStatus.RUNNING):
        test = start_ab_test(test.id, current_flow_run_id())
        await publish_plan(test)
        logger.info("A/B test #%s runs on %s: %s", test.id, test.endpoint, test.plan.note)
    cadence = params.looks
    while test.status is ABTestStatus.RUNNING:
        why = await wait_for_look(
            test.id, cadence.every_requests, cadence.every_seconds, cadence.poll_seconds
        )
        taken = look_at_ab_test(test.id)
        test = taken.test
        if taken.look is not None:
            await publish_look(test, taken.look)
            verdict = taken.look.result.verdict or "continue"
            logger.info("look %s (%s): %s", taken.look.number, why, verdict)
    if test.status is ABTestStatus.CONCLUDED:
        keep, note = await act_on_verdict(test, params)
        test = finish_ab_test(test.id, keep, note)
    await publish_verdict(test)
    logger.info("A/B test #%s: %s; %s", test.id, test.verdict, test.action)
    return ABTestOutcome.of(test)


async def act_on_verdict(test: ABTest, params: ABTestParams) -> tuple[int | None, str]:
    """Which version the endpoint keeps (None: the routes from before) and what was done."""
    a, b = test.definition.a.version, test.definition.b.version
    if test.verdict is VerdictKind.A_WINS:
        return a, f"a wins: v{a} serves 100%; v{b} stays in its stage"
    if test.verdict is not VerdictKind.B_WINS:
        return None, f"{test.verdict}: the routes from before are restored; v{b} stays in its stage"
    target = test.definition.promote_to
    if target is None:
        if test.environment is Environment.PRODUCTION:
            return None, (
                f"b wins, but promote_to is empty and a production endpoint serves only its "
                f"production version: routes restored; promote v{b} to roll it on"
            )
        return b, f"b wins: v{b} serves 100%"
    request = PromoteParams(
        model=test.model,
        version=b,
        stage=PromotionTarget(target.value),
        requester=test.definition.actor,
        reason=f"A/B test #{test.id} on {test.endpoint}: {test.verdict_reason}"[:MAX_REASON],
        timeout_seconds=params.approval_timeout_seconds,
    )
    try:
        promoted = await promote(request)
    except PromotionRefused as refused:
        return None, (
            f"b wins, but its promotion was refused ({refused}): routes restored; v{b} stays "
            "in its stage"
        )
    approvers = ", ".join(promoted.approved_by) or "nobody (no approval needed)"
    return b, f"b wins: v{b} promoted to {promoted.stage} (approved by {approvers}), serves 100%"

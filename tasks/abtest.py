"""Tasks of the ab-test flow: plan or load the test, split the endpoint, wait for data,
look, settle. Each is one unit of database work; retried only on transient faults."""

from __future__ import annotations

import asyncio
import time

from prefect import task
from prefect.cache_policies import NO_CACHE

from registry.abtests import ABTest, ABTestDefinition, ABTestRepository, ABTestStatus, Look
from registry.abtests.lifecycle import Pending, create_test, pending, start_test, take_look
from registry.abtests.settle import finish_test
from registry.domain import Frozen
from registry.orm import utcnow
from tasks.context import unit_of_work
from tasks.retry import is_transient, retry_on_transient


class LookTaken(Frozen):
    test: ABTest
    look: Look | None  # None: the test was no longer running (stopped meanwhile)


@task(cache_policy=NO_CACHE)
def open_ab_test(test_id: int | None, definition: ABTestDefinition | None) -> ABTest:
    """The planned test `test_id`, or a new one planned from `definition`. Never retried:
    a retry after a lost commit would plan the test twice."""
    with unit_of_work() as (session, team):
        if test_id is not None:
            return ABTestRepository(session, team).get(test_id)
        assert definition is not None
        return create_test(session, team, definition)


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_transient
)
def start_ab_test(test_id: int, flow_run_id: str | None) -> ABTest:
    """Own the endpoint and split it (repeating it on a running test changes nothing)."""
    with unit_of_work() as (session, team):
        return start_test(session, team, test_id, flow_run_id=flow_run_id)


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_transient
)
def look_at_ab_test(test_id: int) -> LookTaken:
    """One look from the rollups, persisted with its statistics before anything acts on it."""
    with unit_of_work() as (session, team):
        test, look = take_look(session, team, test_id)
        return LookTaken(test=test, look=look)


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_transient
)
def finish_ab_test(test_id: int, keep: int | None, note: str) -> ABTest:
    """Serve the winner `keep` alone (or restore the routes from before), release, record."""
    with unit_of_work() as (session, team):
        return finish_test(session, team, test_id, keep=keep, note=note)


def current(test_id: int) -> ABTest:
    with unit_of_work() as (session, team):
        return ABTestRepository(session, team).get(test_id)


@task(cache_policy=NO_CACHE)
async def wait_for_look(
    test_id: int, every_requests: int, every_seconds: float, poll_seconds: float
) -> str:
    """Until it is time to look, and why: `every_requests` requests since the last look,
    `every_seconds` waited, the deadline, or the test stopped by a person. Polls a cheap
    count; a poll that fails (the database away) is simply tried again next time."""
    started = time.monotonic()
    while True:
        try:
            state = await asyncio.to_thread(_pending, test_id)
        except Exception as exc:
            if not is_transient(exc):
                raise
            state = None
        if state is not None:
            if state.status is not ABTestStatus.RUNNING:
                return f"the test is {state.status}"
            if state.unlooked >= every_requests:
                return f"{state.unlooked} new requests"
            if state.deadline_at is not None and utcnow() >= state.deadline_at:
                return "the maximum duration is reached"
        if time.monotonic() - started >= every_seconds:
            return f"{every_seconds:g} s passed"
        await asyncio.sleep(poll_seconds)


def _pending(test_id: int) -> Pending:
    with unit_of_work() as (session, team):
        return pending(session, team, test_id)

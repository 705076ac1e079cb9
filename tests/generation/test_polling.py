"""The polling fallback and cancel: jobs that heard nothing are polled with the key that made
them (after a rotation too), Retry-After and poll hints push the next poll out, a job past
its maximum age or a create nobody confirmed fails with its reason."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from dispatch.generation.polling import PollAction, poll_due
from gateway.jobs_requests import JobServiceError
from registry.generation.domain import JobStatus
from tests.fakes.replicate_server import Fault
from tests.generation.support import REPLICATE_KEY, VIDEO_KEY, JobsWorld

pytestmark = pytest.mark.anyio

ART = {"prompt": "A lighthouse at dawn"}
NEW_KEY = "r8_team_alpha_key_rotated_bbbb"


def _gets(world: JobsWorld, prediction_id: str) -> list[str | None]:
    return [r.key for r in world.replicate.requests if r.path == f"/v1/predictions/{prediction_id}"]


async def test_polling_settles_a_job_whose_webhook_never_came(world: JobsWorld) -> None:
    job = await world.create("art-dev", ART)
    assert await poll_due(world.runtime) == []  # nothing is due before its first poll
    world.clock.advance(30)
    [first] = await poll_due(world.runtime)
    assert (first.action, first.status) == (PollAction.POLLED, JobStatus.PROCESSING)
    world.clock.advance(30)
    [second] = await poll_due(world.runtime)
    assert (second.job, second.status) == (job["id"], JobStatus.COMPLETED)
    done = world.job(str(job["id"]))
    assert done.next_poll_at is None and len(done.result) == 1
    assert [o.request_id for o in world.outcomes()] == [job["id"]]
    world.clock.advance(3600)
    assert await poll_due(world.runtime) == []


async def test_after_a_key_rotation_polling_and_cancel_keep_the_creating_key(
    world: JobsWorld,
) -> None:
    old_job = await world.create("art-dev", ART)
    [old] = world.replicate.predictions.values()
    # Rotation: a new key takes the new calls; the old one stays for the jobs it made.
    world.add_key("replicate", "b", NEW_KEY, priority=10)
    new_job = await world.create("art-dev", {"prompt": "A second one"})
    [_, new] = world.replicate.predictions.values()
    assert (old.owner, new.owner) == (REPLICATE_KEY, NEW_KEY)
    world.clock.advance(30)
    reports = await poll_due(world.runtime)
    assert {r.job: r.action for r in reports} == {
        old_job["id"]: PollAction.POLLED,
        new_job["id"]: PollAction.POLLED,
    }
    assert _gets(world, old.id) == [REPLICATE_KEY] and _gets(world, new.id) == [NEW_KEY]
    cancelled = await world.services.cancel(world.team, str(old_job["id"]))
    assert cancelled.body["status"] == "cancelled"
    [cancel] = world.replicate.requests_to(f"/{old.id}/cancel")
    assert cancel.key == REPLICATE_KEY
    assert world.job(str(old_job["id"])).provider_key_id == world.keys["a"]


async def test_retry_after_and_the_providers_poll_hint_push_the_next_poll(
    world: JobsWorld,
) -> None:
    job = await world.create("art-dev", ART)
    world.clock.advance(30)
    world.replicate.script(REPLICATE_KEY, Fault.rate_limited(retry_after="120"))
    [deferred] = await poll_due(world.runtime)
    assert deferred.action is PollAction.DEFERRED and "retry after 120s" in deferred.detail
    assert world.job(str(job["id"])).next_poll_at == world.clock() + timedelta(seconds=120)
    world.clock.advance(119)
    assert await poll_due(world.runtime) == []
    world.clock.advance(1)
    [polled] = await poll_due(world.runtime)
    assert polled.action is PollAction.POLLED
    # OpenAI's `openai-poll-after-ms` asks for 90 s: the next poll is no sooner.
    world.videos.poll_after_ms = 90_000
    clip = await world.create("clip-dev", {"prompt": "A calico cat"})
    world.clock.advance(30)
    reports = {r.job: r for r in await poll_due(world.runtime)}
    assert reports[str(clip["id"])].status is JobStatus.PROCESSING
    assert world.job(str(clip["id"])).next_poll_at == world.clock() + timedelta(seconds=90)
    assert {r.key for r in world.videos.requests} == {VIDEO_KEY}


async def test_a_job_past_its_maximum_age_fails_with_the_reason(world: JobsWorld) -> None:
    world.replicate.polls_to_finish = 1_000_000  # it never ends
    job = await world.create("art-dev", ART)
    world.clock.advance(30)
    await poll_due(world.runtime)
    world.clock.advance(86_400)
    [expired] = await poll_due(world.runtime)
    assert expired.action is PollAction.EXPIRED
    failed = world.job(str(job["id"]))
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert failed.error.code == "max_age_exceeded"
    assert failed.error.message == (
        "no result within the job's maximum age of 86400s (last provider state: processing)"
    )
    [outcome] = world.outcomes()
    assert (outcome.success, outcome.error_class) == (False, "max_age_exceeded")


async def test_two_pollers_at_once_poll_each_job_once(world: JobsWorld) -> None:
    for n in range(4):
        await world.create("art-dev", {"prompt": f"picture {n}"})
    world.clock.advance(30)
    first, second = await asyncio.gather(poll_due(world.runtime), poll_due(world.runtime))
    polled = [r.job for r in first + second]
    assert len(polled) == len(set(polled)) == 4
    assert sum(len(_gets(world, p)) for p in world.replicate.predictions) == 4


async def test_cancel_needs_a_provider_that_can_cancel(world: JobsWorld) -> None:
    clip = await world.create("clip-dev", {"prompt": "A calico cat"})
    with pytest.raises(JobServiceError) as caught:
        await world.services.cancel(world.team, str(clip["id"]))
    assert (caught.value.status, caught.value.code) == (409, "cancel_unsupported")
    assert world.job(str(clip["id"])).status is JobStatus.PENDING
    assert world.videos.requests_to("/cancel") == []


async def test_a_create_in_doubt_is_not_sent_again_and_fails_unconfirmed(world: JobsWorld) -> None:
    world.add_key("replicate", "b", NEW_KEY)
    world.replicate.script(REPLICATE_KEY, Fault.malformed_json())  # 200, but unreadable
    world.replicate.script(NEW_KEY, Fault.malformed_json())
    answer = await world.services.create(world.team, "art-dev", ART, idempotency_key="doubt")
    assert (answer.status_code, answer.body["status"]) == (202, "pending")
    assert len(world.replicate.requests_to("/predictions")) == 1  # no failover to key b
    job = world.job(str(answer.body["id"]))
    assert job.in_doubt and job.confirm_by == job.created_at + timedelta(seconds=900)
    again = await world.services.create(world.team, "art-dev", ART, idempotency_key="doubt")
    assert again.body["id"] == job.public_id
    assert len(world.replicate.requests_to("/predictions")) == 1  # the retry sent nothing
    world.clock.advance(899)
    assert await poll_due(world.runtime) == []
    world.clock.advance(1)
    [unconfirmed] = await poll_due(world.runtime)
    assert unconfirmed.action is PollAction.UNCONFIRMED
    failed = world.job(job.public_id)
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert failed.error.code == "not_confirmed"
    assert "was not sent again" in failed.error.message

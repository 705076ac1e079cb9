"""The notice a job owes its callback URL when it ends: signed (Standard Webhooks) with the
team's callback secrets, retried on the published schedule, every attempt logged."""

from __future__ import annotations

import json

import pytest

from adapters.errors import InvalidSignatureError
from adapters.webhooks import verify_standard_webhook
from dispatch.generation.callbacks import deliver_due
from dispatch.generation.polling import poll_due
from registry.generation.callbacks import callbacks_of_job
from registry.generation.domain import CallbackStatus
from registry.generation.secrets import WebhookSecretRepository
from tests.fakes.server import Fault
from tests.generation.support import RING, JobsWorld, callback_secret_of

pytestmark = pytest.mark.anyio


async def _ended_with_callback(world: JobsWorld) -> str:
    url = f"{world.hooks.url}/hooks/client/done"
    job = await world.create("art-dev", {"prompt": "A fox", "callback_url": url})
    [prediction] = world.replicate.predictions.values()
    world.replicate.finish(prediction.id)
    world.hooks.wait_for(1)  # the provider's own webhook
    world.clock.advance(30)
    [polled] = await poll_due(world.runtime)
    assert polled.status.value == "completed"
    return str(job["id"])


def _callbacks(world: JobsWorld) -> list[object]:
    return [d for d in world.hooks.deliveries if d.path == "/hooks/client/done"]


async def test_the_notice_is_signed_and_carries_the_job(world: JobsWorld) -> None:
    job_id = await _ended_with_callback(world)
    [report] = await deliver_due(world.runtime)
    assert (report.status, report.status_code) == (CallbackStatus.DELIVERED, 204)
    [notice] = [d for d in world.hooks.wait_for(2) if d.path == "/hooks/client/done"]
    msg_id = verify_standard_webhook(notice.headers, notice.body, callback_secret_of(world))
    assert msg_id == f"msg_{job_id}"
    body = json.loads(notice.body)
    assert (body["type"], body["data"]["id"], body["data"]["status"]) == (
        "generation.job.completed",
        job_id,
        "completed",
    )
    assert body["data"] == (await world.services.get(world.team, job_id)).body
    with pytest.raises(InvalidSignatureError):
        verify_standard_webhook(notice.headers, notice.body, ["whsec_b3RoZXItc2VjcmV0"])
    assert await deliver_due(world.runtime) == []  # delivered: never sent again


async def test_a_failed_delivery_is_retried_on_the_schedule_and_logged(world: JobsWorld) -> None:
    job_id = await _ended_with_callback(world)
    world.hooks.script(None, Fault(503, message="busy"))
    [first] = await deliver_due(world.runtime)
    assert (first.status, first.status_code) == (CallbackStatus.PENDING, 503)
    world.clock.advance(4)
    assert await deliver_due(world.runtime) == []  # the first retry is 5 s after
    world.clock.advance(1)
    [second] = await deliver_due(world.runtime)
    assert second.status is CallbackStatus.DELIVERED
    job = world.job(job_id)
    with world.sessions.begin() as session:
        [stored] = callbacks_of_job(session, job.id)
    assert stored["attempts"] == 2 and stored["status"] == "delivered"
    assert [entry["status_code"] for entry in stored["log"]] == [503, 204]  # type: ignore[index, union-attr]


async def test_gone_stops_the_retries(world: JobsWorld) -> None:
    await _ended_with_callback(world)
    world.hooks.script(None, Fault(410, message="gone"))
    [report] = await deliver_due(world.runtime)
    assert report.status is CallbackStatus.GAVE_UP
    world.clock.advance(86_400 * 2)
    assert await deliver_due(world.runtime) == []


async def test_during_a_rotation_the_notice_is_signed_with_both_secrets(world: JobsWorld) -> None:
    with world.sessions.begin() as session:
        _, new = WebhookSecretRepository(session, world.team, RING).new_callback_secret("next")
    await _ended_with_callback(world)
    await deliver_due(world.runtime)
    [notice] = [d for d in world.hooks.deliveries if d.path == "/hooks/client/done"]
    assert len(notice.headers["webhook-signature"].split()) == 2
    old = [s for s in callback_secret_of(world) if s != new.get_secret_value()]
    for secret in (new.get_secret_value(), old[0]):
        verify_standard_webhook(notice.headers, notice.body, secret)

"""Provider webhooks into the service: verified, stored raw with a verdict, deduplicated by
webhook id and applied once; refused or recorded as such, changing nothing, when they are
forged, stale, replayed, malformed or for a job nobody knows."""

from __future__ import annotations

import hashlib
import json

import pytest

from adapters.webhooks import sign_standard_webhook
from gateway.webhooks_service import receive_webhook
from registry.generation.domain import JobStatus, WebhookVerdict
from registry.generation.webhook_events import events_of_job
from registry.teams import TeamRepository
from tests.fakes.openai_videos_server import PROJECT_SECRET, video_bytes
from tests.fakes.replicate_server import account_secret
from tests.generation.support import REPLICATE_KEY, JobsWorld

pytestmark = pytest.mark.anyio

MUSIC = {"prompt": "calm piano", "duration_seconds": 8}


async def _finished(world: JobsWorld) -> tuple[str, str]:
    """A music job whose prediction succeeded and POSTed its webhook to the receiver."""
    job = await world.create("music-dev", MUSIC)
    [prediction] = world.replicate.predictions.values()
    world.replicate.outputs["meta/musicgen"] = "https://replicate.delivery/fake/song.wav"
    world.replicate.finish(prediction.id)
    return str(job["id"]), prediction.id


async def test_a_webhook_completes_the_job_and_records_what_it_changed(world: JobsWorld) -> None:
    job_id, prediction_id = await _finished(world)
    [delivery] = world.hooks.wait_for(1)
    assert delivery.path == "/hooks/v1/webhooks/replicate" and delivery.query == {"job": job_id}
    receipt = await world.deliver(delivery, "replicate")
    assert (receipt.status_code, receipt.verdict, receipt.job) == (
        200,
        WebhookVerdict.ACCEPTED,
        job_id,
    )
    assert receipt.changes["status"] == ["pending", "completed"]
    job = world.job(job_id)
    assert job.status is JobStatus.COMPLETED and job.last_heard_at == world.clock()
    assert [a.url for a in job.result] == ["https://replicate.delivery/fake/song.wav"]
    [event] = world.events("replicate")
    assert (event.verdict, event.job_id, event.provider_job_id) == (
        WebhookVerdict.ACCEPTED,
        job.id,
        prediction_id,
    )
    assert event.payload == delivery.body and event.applied_at is not None
    assert event.changes == receipt.changes
    [outcome] = world.outcomes()
    assert (outcome.request_id, outcome.success) == (job_id, True)


async def test_the_same_webhook_twice_changes_the_job_once(world: JobsWorld) -> None:
    job_id, _ = await _finished(world)
    [delivery] = world.hooks.wait_for(1)
    await world.deliver(delivery, "replicate")
    after_first = world.job(job_id)
    again = await world.deliver(delivery, "replicate")
    assert (again.status_code, again.verdict, again.changes) == (200, WebhookVerdict.DUPLICATE, {})
    # A replay with a fresh timestamp and a valid signature is the same webhook id again.
    replay = {
        **delivery.headers,
        **sign_standard_webhook(
            delivery.headers["webhook-id"], delivery.body, [account_secret(REPLICATE_KEY)]
        ),
    }
    replayed = await receive_webhook(
        world.runtime, "replicate", replay, delivery.body, delivery.query
    )
    assert replayed.verdict is WebhookVerdict.DUPLICATE
    assert world.job(job_id) == after_first
    assert [e.verdict for e in world.events("replicate")] == [
        WebhookVerdict.ACCEPTED,
        WebhookVerdict.DUPLICATE,
        WebhookVerdict.DUPLICATE,
    ]
    assert len(world.outcomes()) == 1


async def test_forged_and_stale_webhooks_are_refused_and_change_nothing(world: JobsWorld) -> None:
    job_id, _ = await _finished(world)
    [delivery] = world.hooks.wait_for(1)
    before = world.job(job_id)
    forged = delivery.body.replace(b"song.wav", b"evil.wav")
    bad = await receive_webhook(
        world.runtime, "replicate", delivery.headers, forged, delivery.query
    )
    stale_headers = sign_standard_webhook(
        delivery.headers["webhook-id"],
        delivery.body,
        [account_secret(REPLICATE_KEY)],
        timestamp=1_600_000_000,
    )
    stale = await receive_webhook(
        world.runtime, "replicate", stale_headers, delivery.body, delivery.query
    )
    unsigned = await receive_webhook(
        world.runtime, "replicate", {"content-type": "application/json"}, delivery.body, {}
    )
    assert [(r.status_code, r.verdict) for r in (bad, stale, unsigned)] == [
        (401, WebhookVerdict.BAD_SIGNATURE),
        (401, WebhookVerdict.STALE),
        (401, WebhookVerdict.BAD_SIGNATURE),
    ]
    assert world.job(job_id) == before
    events = world.events("replicate")
    assert [e.verdict for e in events] == [
        WebhookVerdict.BAD_SIGNATURE,
        WebhookVerdict.STALE,
        WebhookVerdict.BAD_SIGNATURE,
    ]
    assert events[0].payload == forged and all(
        e.job_id is None and e.team_id is None for e in events
    )
    # None of them took the webhook id: the real delivery is still applied.
    assert (await world.deliver(delivery, "replicate")).verdict is WebhookVerdict.ACCEPTED


async def test_a_webhook_for_an_unknown_job_is_stored_and_reported(world: JobsWorld) -> None:
    body = json.dumps(
        {"id": "rp9999nobody", "status": "succeeded", "output": "https://x.test/a.png"}
    ).encode()
    headers = sign_standard_webhook("msg_unknown", body, [account_secret(REPLICATE_KEY)])
    receipt = await receive_webhook(world.runtime, "replicate", headers, body, {})
    assert (receipt.status_code, receipt.verdict, receipt.job) == (
        200,
        WebhookVerdict.UNKNOWN_JOB,
        None,
    )
    [event] = world.events("replicate")
    assert (event.team_id, event.provider_job_id, event.payload) == (
        world.team.id,
        "rp9999nobody",
        body,
    )
    tagged = await receive_webhook(
        world.runtime,
        "replicate",
        sign_standard_webhook("msg_u2", body, [account_secret(REPLICATE_KEY)]),
        body,
        {"job": "genjob_000000000000000000000000"},
    )
    assert tagged.verdict is WebhookVerdict.UNKNOWN_JOB


async def test_malformed_unknown_provider_no_secret_and_oversized_are_recorded(
    world: JobsWorld,
) -> None:
    junk = b'{"status": 3}'
    malformed = await receive_webhook(
        world.runtime,
        "replicate",
        sign_standard_webhook("msg_j", junk, [account_secret(REPLICATE_KEY)]),
        junk,
        {},
    )
    nobody = await receive_webhook(world.runtime, "nosuch", {}, b"{}", {})
    no_secret = await receive_webhook(world.runtime, "localmedia", {}, b"{}", {})
    huge = await receive_webhook(world.runtime, "replicate", {}, b"x" * (1024 * 1024 + 1), {})
    assert [(r.status_code, r.verdict) for r in (malformed, nobody, no_secret, huge)] == [
        (400, WebhookVerdict.MALFORMED),
        (404, WebhookVerdict.UNKNOWN_PROVIDER),
        (401, WebhookVerdict.NO_SECRET),
        (413, WebhookVerdict.TOO_LARGE),
    ]
    [stored] = [e for e in world.events("replicate") if e.verdict is WebhookVerdict.TOO_LARGE]
    assert stored.payload_truncated and len(stored.payload) == 256 * 1024


async def test_secrets_rotate_with_overlap(world: JobsWorld) -> None:
    job_id, _ = await _finished(world)
    [delivery] = world.hooks.wait_for(1)
    from registry.generation.secrets import WebhookSecretRepository
    from tests.generation.support import RING

    # The account's secret rotates: the new one is added, the old one kept for an overlap.
    world.add_provider_secret("replicate", "account-a-new", account_secret("rotated"))
    assert (await world.deliver(delivery, "replicate")).verdict is WebhookVerdict.ACCEPTED
    with world.sessions.begin() as session:
        repo = WebhookSecretRepository(session, world.team, RING)
        [old] = [s for s in repo.list() if s.label == "account-a"]
        repo.retire(old.id, after_seconds=3600, now=world.clock())
    world.clock.advance(3601)  # the overlap is over
    body = delivery.body
    late = sign_standard_webhook("msg_late", body, [account_secret(REPLICATE_KEY)])
    assert (
        await receive_webhook(world.runtime, "replicate", late, body, delivery.query)
    ).verdict is WebhookVerdict.BAD_SIGNATURE
    fresh = sign_standard_webhook("msg_new", body, [account_secret("rotated")])
    assert (
        await receive_webhook(world.runtime, "replicate", fresh, body, delivery.query)
    ).verdict is WebhookVerdict.ACCEPTED
    assert world.job(job_id).status is JobStatus.COMPLETED


async def test_another_teams_secret_cannot_touch_this_teams_job(world: JobsWorld) -> None:
    job_id, _ = await _finished(world)
    [delivery] = world.hooks.wait_for(1)
    with world.sessions.begin() as session:
        beta = TeamRepository(session).ensure("beta")
    world.add_provider_secret("replicate", "beta-account", account_secret("beta-key"), team=beta)
    signed_by_beta = sign_standard_webhook("msg_beta", delivery.body, [account_secret("beta-key")])
    receipt = await receive_webhook(
        world.runtime, "replicate", signed_by_beta, delivery.body, delivery.query
    )
    assert (receipt.verdict, receipt.job) == (WebhookVerdict.UNKNOWN_JOB, None)
    assert world.job(job_id).status is JobStatus.PENDING


async def test_an_openai_event_names_the_video_and_the_job_key_fetches_it(world: JobsWorld) -> None:
    world.videos.webhook_url = world.hooks.hook_url
    job = await world.create(
        "clip-dev", {"prompt": "A calico cat playing a piano", "duration_seconds": 4}
    )
    [video] = world.videos.videos.values()
    world.videos.finish(video.id)
    [event] = world.hooks.wait_for(1)
    receipt = await world.deliver(event, "openai")
    assert (receipt.verdict, receipt.changes["status"]) == (
        WebhookVerdict.ACCEPTED,
        ["pending", "completed"],
    )
    done = world.job(str(job["id"]))
    [asset] = done.result
    expected = video_bytes(video.id)
    assert (asset.stored, asset.content_type, asset.size_bytes, asset.duration_seconds) == (
        True,
        "video/mp4",
        len(expected),
        4.0,
    )
    assert asset.sha256 == hashlib.sha256(expected).hexdigest()
    content = await world.services.content(world.team, done.public_id, 0)
    assert content.path.read_bytes() == expected and content.content_type == "video/mp4"
    document = (await world.services.get(world.team, done.public_id)).body
    assert document["result"] == {
        "assets": [
            {
                "url": f"{world.runtime.public_url}/v1/jobs/{done.public_id}/content/0",
                "content_type": "video/mp4",
                "size_bytes": len(expected),
                "sha256": asset.sha256,
                "duration_seconds": 4.0,
            }
        ]
    }
    # The video and its content were fetched with the key that made it.
    assert {r.key for r in world.videos.requests} == {"sk-team-alpha-video-aaaaaa"}
    with world.sessions.begin() as session:
        assert [e.verdict for e in events_of_job(session, done.id)] == [WebhookVerdict.ACCEPTED]
    assert PROJECT_SECRET  # the project's secret verified it (seeded by the world)

"""Creating generation jobs through the service: 202 with the job, the provider's job made
once per idempotency key, and every bad request refused with the field it names, changing
nothing."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.errors import BadRequestError
from dispatch.keyed_call import NoUsableKeyError
from gateway.jobs_requests import JobServiceError
from registry.generation.domain import JobStatus
from registry.keys import KeyRepository
from registry.teams import TeamRepository
from tests.fakes.replicate_server import Fault
from tests.generation.support import REPLICATE_KEY, RING, JobsWorld, query_of

pytestmark = pytest.mark.anyio

ART = {"prompt": "A lighthouse at dawn", "aspect_ratio": "16:9", "num_images": 2}


async def test_a_create_answers_202_with_the_job_and_makes_one_provider_job(
    world: JobsWorld,
) -> None:
    answer = await world.services.create(world.team, "art-dev", ART, idempotency_key="order-1")
    assert answer.status_code == 202
    job = answer.body
    assert (job["object"], job["status"], job["endpoint"], job["category"]) == (
        "generation.job",
        "pending",
        "art-dev",
        "text-to-image",
    )
    assert answer.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["request"] == {
        "category": "text-to-image",
        "model": "black-forest-labs/flux-schnell",
        "prompt": "A lighthouse at dawn",
        "aspect_ratio": "16:9",
        "num_images": 2,
        "negative_prompt": None,
        "seed": None,
        "provider_options": {},
    }
    [prediction] = world.replicate.predictions.values()
    assert prediction.input == {
        "prompt": "A lighthouse at dawn",
        "aspect_ratio": "16:9",
        "num_outputs": 2,
    }
    assert prediction.owner == REPLICATE_KEY
    assert query_of(prediction.webhook or "") == {"job": job["id"]}
    stored = world.job(str(job["id"]))
    assert (stored.provider_job_id, stored.provider_key_id, stored.attempts) == (
        prediction.id,
        world.keys["a"],
        1,
    )


async def test_the_same_idempotency_key_returns_the_same_job_and_sends_nothing(
    world: JobsWorld,
) -> None:
    first = await world.services.create(world.team, "art-dev", ART, idempotency_key="order-2")
    again = await world.services.create(world.team, "art-dev", ART, idempotency_key="order-2")
    assert again.body["id"] == first.body["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert world.replicate.created_count() == 1
    with pytest.raises(JobServiceError) as caught:
        await world.services.create(
            world.team, "art-dev", {**ART, "prompt": "other"}, idempotency_key="order-2"
        )
    assert (caught.value.status, caught.value.param, caught.value.code) == (
        422,
        "Idempotency-Key",
        "idempotency_key_reused",
    )
    assert world.replicate.created_count() == 1


# One bad request per category: (endpoint, body, the param the error names, words it says).
BAD: list[tuple[str, dict[str, Any], str | None, str]] = [
    ("art-dev", {"prompt": ""}, "prompt", "at least 1 character"),
    ("art-dev", {"prompt": "p", "num_images": 11}, "num_images", "less than or equal to 10"),
    (
        "art-dev",
        {"prompt": "p", "colour": "red"},
        "colour",
        "allowed: aspect_ratio, callback_url, negative_prompt, num_images, prompt, provider_options, seed",
    ),
    (
        "edit-dev",
        {"prompt": "p", "image_urls": ["ftp://x.test/a.png"]},
        "image_urls[0]",
        "should match pattern",
    ),
    (
        "edit-dev",
        {"prompt": "p", "image_urls": ["https://a.test/a.png"], "strength": 1.5},
        "strength",
        "less than or equal to 1",
    ),
    ("film-dev", {"prompt": "p", "duration_seconds": -1}, "duration_seconds", "greater than 0"),
    ("animate-dev", {"prompt": "p", "image_urls": []}, "image_urls", "at least 1 item"),
    ("talk-dev", {"audio_url": "not a url"}, "audio_url", "should match pattern"),
    (
        "story-dev",
        {"scenes": [{"prompt": "x", "duration_seconds": 500}]},
        "scenes[0].duration_seconds",
        "less than or equal to 120",
    ),
    ("music-dev", {"prompt": "p", "instrumental": "sometimes"}, "instrumental", "valid boolean"),
    ("transcribe-dev", {"language": "en"}, "audio_url", "Field required"),
    (
        "voice-dev",
        {"text": "hi", "turns": [{"speaker": "a", "text": "yo"}]},
        None,
        "exactly one of `text`",
    ),
    (
        "voice-dev",
        {"turns": [{"speaker": "ann", "text": "hi"}], "voices": {}},
        None,
        "no voice for speaker(s): ann",
    ),
]


@pytest.mark.parametrize(("endpoint", "body", "param", "says"), BAD)
async def test_every_category_refuses_bad_input_naming_the_field(
    world: JobsWorld, endpoint: str, body: dict[str, Any], param: str | None, says: str
) -> None:
    with pytest.raises(JobServiceError) as caught:
        await world.services.create(world.team, endpoint, body)
    error = caught.value
    assert (error.status, error.param, error.code) == (400, param, "invalid_value")
    assert says in error.message
    assert world.replicate.requests == []
    with world.sessions.begin() as session:
        from registry.generation.tables import GenerationJobRow

        assert session.query(GenerationJobRow).count() == 0


@pytest.mark.parametrize(
    ("endpoint", "body", "param", "code"),
    [
        ("art-dev", {"prompt": "p", "category": "text-to-video"}, "category", "wrong_category"),
        ("helpdesk-dev", {"prompt": "p"}, "model", "wrong_category"),
        ("art-dev", {"prompt": "p", "model": "gpt-image-1"}, "model", "unknown_parameter"),
        (
            "art-dev",
            {"prompt": "p", "callback_url": "javascript:alert(1)"},
            "callback_url",
            "invalid_value",
        ),
        ("art-dev", ["not", "an", "object"], None, "invalid_body"),
    ],
)
async def test_a_wrong_category_or_call_field_is_refused_by_name(
    world: JobsWorld, endpoint: str, body: Any, param: str | None, code: str
) -> None:
    with pytest.raises(JobServiceError) as caught:
        await world.services.create(world.team, endpoint, body)
    assert (caught.value.status, caught.value.param, caught.value.code) == (400, param, code)
    assert world.replicate.requests == []


async def test_unknown_endpoints_and_other_teams_jobs_are_not_found(world: JobsWorld) -> None:
    with pytest.raises(JobServiceError) as missing:
        await world.services.create(world.team, "no-such-dev", ART)
    job = await world.create("art-dev", ART)
    with world.sessions.begin() as session:
        other = TeamRepository(session).ensure("beta")
    with pytest.raises(JobServiceError) as foreign:
        await world.services.get(other, str(job["id"]))
    assert (missing.value.status, foreign.value.status) == (404, 404)
    assert foreign.value.message == f"job {job['id']!r} does not exist"
    assert (await world.services.get(world.team, str(job["id"]))).body["id"] == job["id"]


async def test_a_callback_url_needs_a_callback_secret(world: JobsWorld) -> None:
    with world.sessions.begin() as session:
        from registry.generation.tables import WebhookSecretRow

        session.query(WebhookSecretRow).filter(WebhookSecretRow.purpose == "callback").delete()
    with pytest.raises(JobServiceError) as caught:
        await world.create("art-dev", {**ART, "callback_url": "https://client.test/done"})
    assert (caught.value.param, caught.value.code) == ("callback_url", "no_callback_secret")
    assert world.replicate.requests == []


async def test_a_refusal_by_the_provider_fails_the_job_with_its_reason(world: JobsWorld) -> None:
    world.replicate.script(REPLICATE_KEY, Fault(422, "Invalid input", message="prompt is unsafe"))
    with pytest.raises(BadRequestError, match="prompt is unsafe"):
        await world.services.create(world.team, "art-dev", ART, idempotency_key="refused")
    again = await world.services.create(world.team, "art-dev", ART, idempotency_key="refused")
    assert again.status_code == 200
    assert again.body["status"] == "failed"
    assert again.body["error"] == {
        "code": "Invalid input",
        "message": "replicate: prompt is unsafe (HTTP 422, code=Invalid input)",
    }
    assert world.replicate.created_count() == 0
    [outcome] = world.outcomes()
    assert (outcome.request_id, outcome.success, outcome.error_class) == (
        again.body["id"],
        False,
        "failed",
    )


async def test_with_no_usable_key_nothing_is_sent_and_a_retry_sends_it(world: JobsWorld) -> None:
    with world.sessions.begin() as session:
        KeyRepository(session, world.team, RING).disable(world.keys["a"])
    with pytest.raises(NoUsableKeyError):
        await world.services.create(world.team, "art-dev", ART, idempotency_key="later")
    job = world.replicate.created_count()
    assert job == 0
    with world.sessions.begin() as session:
        KeyRepository(session, world.team, RING).enable(world.keys["a"])
    answer = await world.services.create(world.team, "art-dev", ART, idempotency_key="later")
    assert answer.status_code == 202 and world.replicate.created_count() == 1
    assert world.job(str(answer.body["id"])).status is JobStatus.PENDING

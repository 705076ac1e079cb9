"""The asyncgen adapter: create a task with a callback URL, poll its record, take the webhook."""

from __future__ import annotations

import httpx
import pytest
from pydantic import JsonValue, SecretStr

from adapters import errors
from adapters.asyncgen.adapter import AsyncGenAdapter
from adapters.base import Credential
from adapters.generation import (
    ImageToVideoRequest,
    StoryboardScene,
    StoryboardToVideoRequest,
    TextToImageRequest,
    TextToMusicRequest,
)
from adapters.jobs import JobStatus
from adapters.registry import create_adapter
from tests.fakes.asyncgen_server import FakeAsyncGenServer, Fault
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.anyio

KEY = "kie-test-key-123456"
CREDENTIAL = Credential(api_key=SecretStr(KEY), key_id="gen-1")
KIE_SECRET = SecretStr("kie-hmac-test-secret")
IMAGE = TextToImageRequest(
    model="google/imagen4-fast", prompt="A lighthouse at dawn", aspect_ratio="16:9", num_images=1
)


def _adapter(
    server: FakeAsyncGenServer, client: httpx.AsyncClient, **options: JsonValue
) -> AsyncGenAdapter:
    adapter = create_adapter(
        "asyncgen", base_url=server.base_url, http_client=client, options=options
    )
    assert isinstance(adapter, AsyncGenAdapter)
    return adapter


async def test_create_sends_the_callback_and_the_input_under_provider_names(
    asyncgen_server: FakeAsyncGenServer,
) -> None:
    request = StoryboardToVideoRequest(
        model="sora-2-pro-storyboard",
        scenes=[
            StoryboardScene(prompt="A cat wakes up", duration_seconds=5),
            StoryboardScene(prompt="It stretches", duration_seconds=7.5),
        ],
        aspect_ratio="landscape",
        provider_options={"n_frames": "15"},
    )
    async with httpx.AsyncClient() as client:
        job = await _adapter(asyncgen_server, client).create_generation(
            CREDENTIAL, request, "https://hooks.example.test/asyncgen"
        )
    [sent] = asyncgen_server.requests
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json() == {
        "model": "sora-2-pro-storyboard",
        "callBackUrl": "https://hooks.example.test/asyncgen",
        "input": {
            "aspect_ratio": "landscape",
            "shots": [
                {"Scene": "A cat wakes up", "duration": 5.0},
                {"Scene": "It stretches", "duration": 7.5},
            ],
            "n_frames": "15",
        },
    }
    assert (job.status, job.raw_status, job.id) == (JobStatus.QUEUED, None, "task_fake_1")


async def test_standard_fields_are_renamed_and_never_revalued(
    asyncgen_server: FakeAsyncGenServer,
) -> None:
    request = ImageToVideoRequest(
        model="kling/v2-1",
        prompt="Slow pan",
        image_urls=["https://img.example.test/a.png"],
        duration_seconds=5,
        resolution="720p",
        seed=9,
    )
    async with httpx.AsyncClient() as client:
        await _adapter(asyncgen_server, client).create_generation(CREDENTIAL, request)
    sent = asyncgen_server.requests[0].json()
    assert "callBackUrl" not in sent
    assert sent["input"] == {
        "seed": 9,
        "duration": 5.0,
        "resolution": "720p",
        "prompt": "Slow pan",
        "image_urls": ["https://img.example.test/a.png"],
    }


async def test_polling_walks_the_record_to_its_result(
    asyncgen_server: FakeAsyncGenServer,
) -> None:
    asyncgen_server.polls_to_finish = 3
    async with httpx.AsyncClient() as client:
        adapter = _adapter(asyncgen_server, client)
        job = await adapter.create_generation(CREDENTIAL, IMAGE)
        states = []
        while not job.status.is_terminal:
            job = await adapter.retrieve_generation(CREDENTIAL, job.id)
            states.append((job.raw_status, job.status))
    assert states == [
        ("generating", JobStatus.RUNNING),
        ("generating", JobStatus.RUNNING),
        ("success", JobStatus.SUCCEEDED),
    ]
    assert [o.url for o in job.outputs] == [f"https://cdn.fake.test/{job.id}/0.png"]
    assert job.created_at is not None and job.finished_at is not None


async def test_the_signed_webhook_reaches_the_callback_and_parses_to_the_job(
    asyncgen_server: FakeAsyncGenServer, webhooks: WebhookReceiver
) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(asyncgen_server, client)
        job = await adapter.create_generation(CREDENTIAL, IMAGE, webhooks.hook_url)
        asyncgen_server.finish(job.id)
    [delivery] = webhooks.wait_for(1)
    assert "x-webhook-signature" in delivery.headers
    notice = adapter.parse_webhook(delivery.headers, delivery.body, [KIE_SECRET])
    assert (notice.job_id, notice.webhook_id) == (job.id, f"{job.id}:success")
    parsed = notice.job
    assert parsed is not None
    assert (parsed.id, parsed.status) == (job.id, JobStatus.SUCCEEDED)
    assert [o.url for o in parsed.outputs] == [f"https://cdn.fake.test/{job.id}/0.png"]


async def test_polling_to_the_end_also_fires_the_webhook(
    asyncgen_server: FakeAsyncGenServer, webhooks: WebhookReceiver
) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(asyncgen_server, client)
        job = await adapter.create_generation(CREDENTIAL, IMAGE, webhooks.hook_url)
        while not job.status.is_terminal:
            job = await adapter.retrieve_generation(CREDENTIAL, job.id)
    [delivery] = webhooks.wait_for(1)
    assert adapter.parse_webhook(delivery.headers, delivery.body, [KIE_SECRET]).job_id == job.id


async def test_a_failed_task_reports_its_failure_by_webhook(
    asyncgen_server: FakeAsyncGenServer, webhooks: WebhookReceiver
) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(asyncgen_server, client)
        job = await adapter.create_generation(CREDENTIAL, IMAGE, webhooks.hook_url)
        asyncgen_server.finish(job.id, succeed=False)
    [delivery] = webhooks.wait_for(1)
    parsed = adapter.parse_webhook(delivery.headers, delivery.body, [KIE_SECRET]).job
    assert parsed is not None and parsed.status is JobStatus.FAILED
    assert parsed.error is not None and parsed.error.message == "generation failed"


async def test_forged_or_replayed_webhooks_are_refused(
    asyncgen_server: FakeAsyncGenServer, webhooks: WebhookReceiver
) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(asyncgen_server, client)
        job = await adapter.create_generation(CREDENTIAL, IMAGE, webhooks.hook_url)
        asyncgen_server.finish(job.id)
    [delivery] = webhooks.wait_for(1)
    with pytest.raises(errors.InvalidSignatureError):
        adapter.parse_webhook(delivery.headers, delivery.body, [SecretStr("wrong-secret")])
    other_task = delivery.body.replace(job.id.encode(), b"task_fake_999")
    with pytest.raises(errors.InvalidSignatureError):
        adapter.parse_webhook(delivery.headers, other_task, [KIE_SECRET])
    stale = {**delivery.headers, **asyncgen_server.sign(job.id, delivery.body, timestamp=1)}
    with pytest.raises(errors.StaleWebhookError):
        adapter.parse_webhook(stale, delivery.body, [KIE_SECRET])
    with pytest.raises(errors.MalformedWebhookError):
        adapter.parse_webhook(delivery.headers, b"not json", [KIE_SECRET])
    # During a rotation the old and the new secret are both held: either verifies.
    rotating = [SecretStr("the-new-secret"), KIE_SECRET]
    assert adapter.parse_webhook(delivery.headers, delivery.body, rotating).job_id == job.id


async def test_standard_webhooks_signing_is_verified_over_the_body(
    asyncgen_server: FakeAsyncGenServer, webhooks: WebhookReceiver
) -> None:
    secret = "whsec_c2VjcmV0LWZvci10aGUtZmFrZS1wcm92aWRlcg=="
    asyncgen_server.signing = "standard"
    asyncgen_server.webhook_secret = secret
    try:
        async with httpx.AsyncClient() as client:
            adapter = _adapter(asyncgen_server, client, webhook_signature="standard")
            job = await adapter.create_generation(CREDENTIAL, IMAGE, webhooks.hook_url)
            asyncgen_server.finish(job.id)
    finally:
        asyncgen_server.webhook_secret = KIE_SECRET.get_secret_value()
    [delivery] = webhooks.wait_for(1)
    assert delivery.headers["webhook-id"] == f"msg_{job.id}"
    notice = adapter.parse_webhook(delivery.headers, delivery.body, [SecretStr(secret)])
    assert (notice.job_id, notice.webhook_id) == (job.id, f"msg_{job.id}")
    tampered = delivery.body.replace(b"success", b"fail")
    with pytest.raises(errors.InvalidSignatureError):
        adapter.parse_webhook(delivery.headers, tampered, [SecretStr(secret)])


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(401, message="Unauthorized"), errors.AuthenticationError),
        (Fault(402, message="Insufficient credits", in_body=True), errors.QuotaExhaustedError),
        (Fault(429, message="Too many requests", in_body=True), errors.RateLimitedError),
        (Fault(455, message="Service unavailable", in_body=True), errors.ModelUnavailableError),
        (Fault(422, message="Validation error"), errors.BadRequestError),
        (Fault(500, message="Server error"), errors.ModelUnavailableError),
        (Fault.malformed_json(), errors.ProtocolError),
    ],
)
async def test_errors_in_the_status_or_in_the_body_code_map_alike(
    asyncgen_server: FakeAsyncGenServer, fault: Fault, expected: type[errors.ProviderError]
) -> None:
    asyncgen_server.script(KEY, fault)
    async with httpx.AsyncClient() as client:
        with pytest.raises(expected) as caught:
            await _adapter(asyncgen_server, client).create_generation(CREDENTIAL, IMAGE)
    assert type(caught.value) is expected


async def test_a_task_of_another_key_is_not_found(asyncgen_server: FakeAsyncGenServer) -> None:
    other = Credential(api_key=SecretStr("kie-other-key-999"))
    async with httpx.AsyncClient() as client:
        adapter = _adapter(asyncgen_server, client)
        job = await adapter.create_generation(CREDENTIAL, IMAGE)
        with pytest.raises(errors.ResourceNotFoundError):
            await adapter.retrieve_generation(other, job.id)


async def test_unserved_categories_and_clashing_options_are_refused_before_sending(
    asyncgen_server: FakeAsyncGenServer,
) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(asyncgen_server, client)
        with pytest.raises(errors.UnsupportedCategoryError, match="text-to-music"):
            await adapter.create_generation(
                CREDENTIAL, TextToMusicRequest(model="suno/v4", prompt="calm piano")
            )
        clash = IMAGE.model_copy(update={"provider_options": {"prompt": "other"}})
        with pytest.raises(errors.BadRequestError, match="repeats standard field"):
            await adapter.create_generation(CREDENTIAL, clash)
    assert asyncgen_server.requests == []

"""The openai adapter's videos: the mapping against the documented payloads, and a video made,
polled (with the poll hint), fetched and announced by webhook against the fake."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from adapters import errors
from adapters.base import Credential
from adapters.generation import ImageToVideoRequest, TextToImageRequest, TextToVideoRequest
from adapters.jobs import JobStatus
from adapters.openai import videos
from adapters.openai.adapter import OpenAIAdapter
from adapters.registry import create_adapter
from adapters.webhooks import sign_standard_webhook
from tests.fakes.openai_server import multipart_parts
from tests.fakes.openai_videos_server import PROJECT_SECRET, FakeOpenAIVideoServer, video_bytes
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openai"
KEY = "sk-video-test-000000000000"
CREDENTIAL = Credential(api_key=SecretStr(KEY), key_id="o-1")
CAT = TextToVideoRequest(
    model="sora-2",
    prompt="A calico cat playing a piano on stage",
    duration_seconds=8,
    resolution="720x1280",
)


def _fixture(name: str) -> dict[str, object]:
    return dict(json.loads((FIXTURES / name).read_text()))


def _adapter(server: FakeOpenAIVideoServer, client: httpx.AsyncClient) -> OpenAIAdapter:
    adapter = create_adapter("openai", base_url=server.base_url, http_client=client)
    assert isinstance(adapter, OpenAIAdapter)
    return adapter


def test_the_documented_video_objects_read_as_jobs() -> None:
    queued = videos.job_from_video(
        videos.WireVideo.model_validate(_fixture("video_queued.json")), provider="openai"
    )
    assert queued is not None
    assert (queued.id, queued.status, queued.raw_status, queued.progress) == (
        "video_123",
        JobStatus.QUEUED,
        "queued",
        0.0,
    )
    failed = videos.job_from_video(
        videos.WireVideo.model_validate(_fixture("video_failed.json")), provider="openai"
    )
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert (failed.error.code, failed.error.message) == (
        "moderation_blocked",
        "Your request was blocked by our moderation system.",
    )


def test_the_documented_event_names_the_video_only() -> None:
    adapter = create_adapter(
        "openai", base_url="https://api.openai.com/v1", http_client=httpx.AsyncClient()
    )
    assert isinstance(adapter, OpenAIAdapter)
    body = json.dumps(_fixture("video_event_completed.json")).encode()
    headers = sign_standard_webhook("wh_1", body, [PROJECT_SECRET])
    notice = adapter.parse_webhook(headers, body, [SecretStr(PROJECT_SECRET)])
    assert (notice.job_id, notice.event, notice.webhook_id, notice.job) == (
        "video_abc123",
        "video.completed",
        "wh_1",
        None,
    )
    other = json.dumps(
        {**_fixture("video_event_completed.json"), "type": "batch.completed"}
    ).encode()
    with pytest.raises(errors.MalformedWebhookError, match="subscribe the endpoint"):
        adapter.parse_webhook(
            sign_standard_webhook("wh_2", other, [PROJECT_SECRET]),
            other,
            [SecretStr(PROJECT_SECRET)],
        )


def test_the_form_carries_the_fields_under_the_apis_names() -> None:
    assert videos.video_form(CAT) == {
        "prompt": (None, "A calico cat playing a piano on stage"),
        "model": (None, "sora-2"),
        "seconds": (None, "8"),
        "size": (None, "720x1280"),
    }


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (CAT.model_copy(update={"aspect_ratio": "16:9"}), "aspect_ratio"),
        (CAT.model_copy(update={"negative_prompt": "dogs"}), "negative_prompt"),
        (CAT.model_copy(update={"seed": 3}), "seed"),
        (CAT.model_copy(update={"provider_options": {"prompt": "x"}}), "prompt"),
    ],
)
async def test_fields_the_api_cannot_take_are_refused_by_name(
    openai_videos: FakeOpenAIVideoServer, request_: TextToVideoRequest, field: str
) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(errors.BadRequestError, match=field):
            await _adapter(openai_videos, client).create_generation(CREDENTIAL, request_)
    assert openai_videos.requests == []


async def test_only_text_to_video_is_served() -> None:
    still = ImageToVideoRequest(model="sora-2", prompt="p", image_urls=["https://a.test/1.png"])
    async with httpx.AsyncClient() as client:
        adapter = create_adapter("openai", base_url="https://x.test/v1", http_client=client)
        assert isinstance(adapter, OpenAIAdapter)
        for request in (TextToImageRequest(model="m", prompt="p"), still):
            with pytest.raises(errors.UnsupportedCategoryError, match=request.category):
                await adapter.create_generation(CREDENTIAL, request)


async def test_a_video_is_made_polled_with_its_hint_fetched_and_announced(
    openai_videos: FakeOpenAIVideoServer, webhooks: WebhookReceiver, tmp_path: Path
) -> None:
    openai_videos.webhook_url = webhooks.hook_url
    async with httpx.AsyncClient() as client:
        adapter = _adapter(openai_videos, client)
        job = await adapter.create_generation(CREDENTIAL, CAT, "ignored: set per project")
        [sent] = openai_videos.requests_to("/videos")
        assert sent.headers["content-type"].startswith("multipart/form-data")
        form = {
            k: v.decode()
            for k, (_, v) in multipart_parts(sent.headers["content-type"], sent.body).items()
        }
        assert form == {"prompt": CAT.prompt, "model": "sora-2", "seconds": "8", "size": "720x1280"}
        running = await adapter.retrieve_generation(CREDENTIAL, job.id)
        assert (running.status, running.poll_after_seconds, running.progress) == (
            JobStatus.RUNNING,
            2.5,
            0.5,
        )
        done = await adapter.retrieve_generation(CREDENTIAL, job.id)
        assert done.status is JobStatus.SUCCEEDED and done.poll_after_seconds is None
        [mp4] = done.outputs
        assert (mp4.download, mp4.content_type, mp4.duration_seconds) == (True, "video/mp4", 8.0)
        got = await adapter.download_generation(
            CREDENTIAL, job.id, 0, tmp_path / "v.mp4", max_bytes=10_000
        )
        with pytest.raises(errors.BadRequestError, match="limit"):
            await adapter.download_generation(
                CREDENTIAL, job.id, 0, tmp_path / "w.mp4", max_bytes=100
            )
    expected = video_bytes(job.id)
    assert (tmp_path / "v.mp4").read_bytes() == expected
    assert (got.sha256, got.size_bytes, got.content_type) == (
        hashlib.sha256(expected).hexdigest(),
        len(expected),
        "video/mp4",
    )
    assert not (tmp_path / "w.mp4").exists()
    [event] = webhooks.wait_for(1)
    notice = adapter.parse_webhook(event.headers, event.body, [SecretStr(PROJECT_SECRET)])
    assert (notice.job_id, notice.event) == (job.id, "video.completed")

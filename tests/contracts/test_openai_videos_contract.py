"""Our video requests, the fake's videos and our webhook signatures, against openai-python.

The create form the adapter sends is the one the SDK sends for the same values; every video
the fake answers (and each recorded payload) validates as the SDK's `Video`; a webhook signed
by `adapters.webhooks.sign_standard_webhook` passes the SDK's own `verify_signature`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest
from openai.types import Video
from pydantic import SecretStr

from adapters.base import Credential
from adapters.generation import TextToVideoRequest
from adapters.openai.adapter import OpenAIAdapter
from adapters.registry import create_adapter
from adapters.webhooks import sign_standard_webhook
from tests.fakes.openai_server import multipart_parts
from tests.fakes.openai_videos_server import PROJECT_SECRET, FakeOpenAIVideoServer
from tests.fakes.server import RecordedRequest

pytestmark = pytest.mark.anyio

KEY = "sk-contract-video-0000000"
CREDENTIAL = Credential(api_key=SecretStr(KEY), key_id="k1")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openai"


@pytest.fixture
async def clients(
    openai_videos: FakeOpenAIVideoServer,
) -> AsyncIterator[tuple[OpenAIAdapter, openai.AsyncOpenAI]]:
    async with httpx.AsyncClient() as http:
        ours = create_adapter("openai", base_url=openai_videos.base_url, http_client=http)
        assert isinstance(ours, OpenAIAdapter)
        sdk = openai.AsyncOpenAI(api_key=KEY, base_url=openai_videos.base_url, max_retries=0)
        yield ours, sdk
        await sdk.close()


def _form(request: RecordedRequest) -> dict[str, str]:
    parts = multipart_parts(request.headers["content-type"], request.body)
    return {name: content.decode() for name, (_, content) in parts.items()}


async def test_the_create_form_is_the_one_the_sdk_sends(
    openai_videos: FakeOpenAIVideoServer, clients: tuple[OpenAIAdapter, openai.AsyncOpenAI]
) -> None:
    ours, sdk = clients
    request = TextToVideoRequest(
        model="sora-2",
        prompt="A calico cat playing a piano",
        duration_seconds=8,
        resolution="1280x720",
    )
    await ours.create_generation(CREDENTIAL, request)
    mine = openai_videos.requests[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK marks Sora as sunsetting
        await sdk.videos.create(
            prompt="A calico cat playing a piano", model="sora-2", seconds="8", size="1280x720"
        )
    theirs = openai_videos.requests[-1]
    assert (mine.method, mine.path) == (theirs.method, theirs.path) == ("POST", "/v1/videos")
    assert _form(mine) == _form(theirs)


async def test_every_video_the_fake_answers_and_each_recorded_one_is_an_sdk_video(
    openai_videos: FakeOpenAIVideoServer, clients: tuple[OpenAIAdapter, openai.AsyncOpenAI]
) -> None:
    ours, _ = clients
    job = await ours.create_generation(CREDENTIAL, TextToVideoRequest(model="sora-2", prompt="x"))
    openai_videos.polls_to_finish = 2
    seen = [openai_videos.view(openai_videos.videos[job.id])]
    for _ in range(2):
        await ours.retrieve_generation(CREDENTIAL, job.id)
        seen.append(openai_videos.view(openai_videos.videos[job.id]))
    assert [v["status"] for v in seen] == ["queued", "in_progress", "completed"]
    for body in seen:
        Video.model_validate(body)
    for name in ("video_queued.json", "video_failed.json"):
        Video.model_validate(json.loads((FIXTURES / name).read_text()))


def test_our_signature_passes_the_sdks_verification() -> None:
    body = (FIXTURES / "video_event_completed.json").read_bytes()
    headers = sign_standard_webhook("wh_contract", body, ["whsec_bmV3LXNlY3JldA==", PROJECT_SECRET])
    sdk = openai.OpenAI(api_key=KEY, base_url="http://127.0.0.1:9/v1")
    sdk.webhooks.verify_signature(body, headers, secret=PROJECT_SECRET)
    event = sdk.webhooks.unwrap(body, headers, secret=PROJECT_SECRET)
    assert event.id == "evt_abc123"

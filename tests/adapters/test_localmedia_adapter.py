"""The local media provider: real PNG and WAV outputs, ready after a delay, a signed webhook,
one job per idempotency key, and a job whose timer died rendered on the next poll."""

from __future__ import annotations

import hashlib
import io
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from pydantic import SecretStr

from adapters import errors
from adapters.base import Credential
from adapters.generation import (
    SpeakerTurn,
    SpeechToTextRequest,
    TextToImageRequest,
    TextToMusicRequest,
    TextToSpeechRequest,
)
from adapters.jobs import JobStatus
from adapters.localmedia.adapter import LocalMediaAdapter, LocalMediaOptions
from adapters.localmedia.render import SAMPLE_RATE, render
from adapters.localmedia.store import MediaStore
from adapters.registry import create_adapter
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.anyio

NOBODY = Credential()
IMAGE = TextToImageRequest(model="local-image", prompt="a red kite", aspect_ratio="16:9", seed=4)
MUSIC = TextToMusicRequest(model="local-music", prompt="calm piano", duration_seconds=3.0)


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _adapter(tmp_path: Path, clock: Clock, render_seconds: float = 10.0) -> LocalMediaAdapter:
    options = LocalMediaOptions(render_seconds=render_seconds)
    return LocalMediaAdapter(MediaStore(tmp_path / "localmedia"), options, clock)


def test_outputs_are_real_files_and_the_same_request_gives_the_same_bytes() -> None:
    [png] = render(IMAGE)
    image = Image.open(io.BytesIO(png.content))
    assert (image.format, image.size, png.content_type) == ("PNG", (320, 180), "image/png")
    assert render(IMAGE)[0].content == png.content
    assert render(IMAGE.model_copy(update={"seed": 5}))[0].content != png.content
    [song] = render(MUSIC)
    with wave.open(io.BytesIO(song.content)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (SAMPLE_RATE, 1, 2)
        assert wav.getnframes() == 3 * SAMPLE_RATE
    assert song.duration_seconds == 3.0
    dialogue = TextToSpeechRequest(
        model="local-voice",
        turns=[SpeakerTurn(speaker="a", text="hello there"), SpeakerTurn(speaker="b", text="hi")],
        voices={"a": "low", "b": "high"},
    )
    [speech] = render(dialogue)
    assert speech.content_type == "audio/wav" and (speech.duration_seconds or 0) > 0.5


async def test_a_job_runs_its_course_and_its_outputs_download(tmp_path: Path) -> None:
    clock = Clock()
    adapter = _adapter(tmp_path, clock)
    job = await adapter.create_generation(NOBODY, IMAGE, idempotency_key="k-1")
    assert (job.status, job.poll_after_seconds) == (JobStatus.QUEUED, 10.0)
    clock.now += 5
    running = await adapter.retrieve_generation(NOBODY, job.id)
    assert running.status is JobStatus.RUNNING and running.progress == pytest.approx(0.5)
    clock.now += 5  # past its time: the timer has not run (10 real seconds), the poll renders
    done = await adapter.retrieve_generation(NOBODY, job.id)
    assert done.status is JobStatus.SUCCEEDED
    [asset] = done.outputs
    assert (asset.download, asset.content_type) == (True, "image/png")
    got = await adapter.download_generation(
        NOBODY, job.id, 0, tmp_path / "out.png", max_bytes=1 << 20
    )
    content = (tmp_path / "out.png").read_bytes()
    assert content == render(IMAGE)[0].content
    assert (got.sha256, got.size_bytes) == (hashlib.sha256(content).hexdigest(), len(content))
    with pytest.raises(errors.BadRequestError, match="limit"):
        await adapter.download_generation(NOBODY, job.id, 0, tmp_path / "x.png", max_bytes=10)


async def test_one_job_per_idempotency_key(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path, Clock())
    first = await adapter.create_generation(NOBODY, MUSIC, idempotency_key="same")
    again = await adapter.create_generation(NOBODY, MUSIC, idempotency_key="same")
    assert again.id == first.id
    assert len(list((tmp_path / "localmedia" / "jobs").iterdir())) == 1
    found = await adapter.find_generation(NOBODY, "same")
    assert found is not None and found.id == first.id
    assert await adapter.find_generation(NOBODY, "never-used") is None
    other = MUSIC.model_copy(update={"prompt": "loud drums"})
    with pytest.raises(errors.BadRequestError, match="another request"):
        await adapter.create_generation(NOBODY, other, idempotency_key="same")


async def test_the_finished_job_posts_a_signed_webhook(
    tmp_path: Path, webhooks: WebhookReceiver
) -> None:
    adapter = create_adapter("localmedia", data_dir=tmp_path, options={"render_seconds": 0})
    assert isinstance(adapter, LocalMediaAdapter)
    job = await adapter.create_generation(NOBODY, MUSIC, webhooks.hook_url, idempotency_key="w")
    [delivery] = webhooks.wait_for(1)
    notice = adapter.parse_webhook(delivery.headers, delivery.body, [adapter.signing_secret()])
    assert (notice.job_id, notice.event) == (job.id, "generation.succeeded")
    assert notice.job is not None and notice.job.status is JobStatus.SUCCEEDED
    with pytest.raises(errors.InvalidSignatureError):
        adapter.parse_webhook(delivery.headers, delivery.body, [SecretStr("whsec_b3RoZXI=")])
    secret_file = tmp_path / "localmedia" / "webhook-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600


async def test_cancel_before_the_end_stops_the_job(tmp_path: Path) -> None:
    clock = Clock()
    adapter = _adapter(tmp_path, clock)
    job = await adapter.create_generation(NOBODY, IMAGE)
    cancelled = await adapter.cancel_generation(NOBODY, job.id)
    clock.now += 60
    assert cancelled.status is JobStatus.CANCELLED
    assert (await adapter.retrieve_generation(NOBODY, job.id)).status is JobStatus.CANCELLED
    with pytest.raises(errors.ResourceNotFoundError):
        await adapter.retrieve_generation(NOBODY, "lm_000000000000000000000000")


async def test_what_it_does_not_make_is_refused(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path, Clock())
    request = SpeechToTextRequest(model="x", audio_url="https://a.test/a.wav")
    with pytest.raises(errors.UnsupportedCategoryError, match="speech-to-text"):
        await adapter.create_generation(NOBODY, request)

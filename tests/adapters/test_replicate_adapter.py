"""The replicate adapter: its mapping against the payloads of Replicate's docs, and a whole
prediction (create, poll, cancel, webhook) against the fake on a real socket."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from adapters import errors
from adapters.base import Credential
from adapters.generation import (
    ImageToImageRequest,
    SpeakerTurn,
    SpeechToTextRequest,
    TextToImageRequest,
    TextToMusicRequest,
    TextToSpeechRequest,
)
from adapters.jobs import JobStatus
from adapters.registry import create_adapter
from adapters.replicate import wire
from adapters.replicate.adapter import ReplicateAdapter
from adapters.webhooks import sign_standard_webhook
from tests.fakes.replicate_server import FakeReplicateServer, Fault, account_secret
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "replicate"
KEY = "r8_test_key_aaaaaaaaaaaaaaaa"
CREDENTIAL = Credential(api_key=SecretStr(KEY), key_id="r-1")
MUSIC = TextToMusicRequest(model="meta/musicgen", prompt="calm piano", duration_seconds=8)


def _fixture(name: str) -> dict[str, object]:
    return dict(json.loads((FIXTURES / name).read_text()))


def _adapter(
    server: FakeReplicateServer, client: httpx.AsyncClient, **options: object
) -> ReplicateAdapter:
    adapter = create_adapter(
        "replicate",
        base_url=server.base_url,
        http_client=client,
        options=dict(options),  # type: ignore[arg-type]
    )
    assert isinstance(adapter, ReplicateAdapter)
    return adapter


def test_the_docs_create_body_is_what_a_speech_request_becomes() -> None:
    request = TextToSpeechRequest(model="replicate/hello-world", text="Alice")
    path, body = wire.create_path_and_body(
        request, "https://example.com/my-webhook", input_names={}
    )
    assert path == "/v1/models/replicate/hello-world/predictions"
    assert body == _fixture("create_with_webhook.json")


def test_the_docs_prediction_objects_read_as_jobs() -> None:
    starting = wire.WirePrediction.model_validate(_fixture("prediction_starting.json"))
    job = wire.job_from_prediction(starting, provider="replicate")
    assert job is not None
    assert (job.id, job.status, job.raw_status) == (
        "ufawqhfynnddngldkgtslldrkq",
        JobStatus.QUEUED,
        "starting",
    )
    assert job.outputs == () and job.created_at is not None and job.finished_at is None
    done = wire.WirePrediction.model_validate(_fixture("prediction_succeeded.json"))
    finished = wire.job_from_prediction(done, provider="replicate")
    assert finished is not None
    assert (finished.status, finished.model) == (JobStatus.SUCCEEDED, "replicate/hello-world")
    assert [(o.url, o.text) for o in finished.outputs] == [(None, "hello Alice")]
    assert finished.finished_at is not None
    assert finished.finished_at.isoformat() == "2023-09-08T16:19:34.791859+00:00"


@pytest.mark.parametrize(
    ("output", "urls", "texts"),
    [
        ("https://replicate.delivery/a.wav", ["https://replicate.delivery/a.wav"], []),
        (
            ["https://x.test/0.png", "https://x.test/1.png"],
            ["https://x.test/0.png", "https://x.test/1.png"],
            [],
        ),
        ({"transcription": "hello there", "segments": []}, [], ["hello there"]),
        ({"audio_out": "https://x.test/o.mp3", "meta": 3}, ["https://x.test/o.mp3"], []),
        (None, [], []),
    ],
)
def test_outputs_of_every_shape_become_urls_or_text(
    output: object, urls: list[str], texts: list[str]
) -> None:
    assets = wire.outputs_of(output)  # type: ignore[arg-type]
    assert [a.url for a in assets if a.url] == urls
    assert [a.text for a in assets if a.text] == texts


def test_standard_fields_take_replicates_input_names_and_keep_their_values() -> None:
    music = wire.create_path_and_body(MUSIC, None, input_names={})[1]
    assert music == {"input": {"prompt": "calm piano", "duration": 8.0, "instrumental": False}}
    stt = SpeechToTextRequest(
        model="openai/whisper", audio_url="https://a.test/x.wav", language="en"
    )
    assert wire.create_path_and_body(stt, None, input_names={})[1]["input"] == {
        "audio": "https://a.test/x.wav",
        "language": "en",
        "diarize": False,
    }
    edit = ImageToImageRequest(
        model="owner/editor", prompt="sepia", image_urls=["https://i.test/a.png"], num_images=2
    )
    renamed = wire.create_path_and_body(edit, None, input_names={"image_urls": "input_images"})[1]
    assert renamed["input"] == {
        "prompt": "sepia",
        "input_images": ["https://i.test/a.png"],
        "num_outputs": 2,
    }


def test_a_dialogue_goes_out_as_turns_with_a_voice_per_speaker() -> None:
    request = TextToSpeechRequest(
        model="owner/dialogue",
        turns=[SpeakerTurn(speaker="ann", text="Hi"), SpeakerTurn(speaker="bob", text="Hello")],
        voices={"ann": "v1", "bob": "v2"},
    )
    body = wire.create_path_and_body(request, None, input_names={})[1]
    assert body["input"] == {
        "turns": [{"speaker": "ann", "text": "Hi"}, {"speaker": "bob", "text": "Hello"}],
        "voices": {"ann": "v1", "bob": "v2"},
    }


def test_model_ids_choose_the_path() -> None:
    version = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
    image = TextToImageRequest(model=f"stability-ai/sdxl:{version}", prompt="a fox")
    path, body = wire.create_path_and_body(image, None, input_names={})
    assert (path, body["version"]) == ("/v1/predictions", version)
    with pytest.raises(ValueError, match="is not `owner/name`"):
        wire.create_path_and_body(
            TextToImageRequest(model="sdxl", prompt="a"), None, input_names={}
        )


async def test_a_prediction_is_created_polled_and_finished_with_its_webhook(
    replicate_server: FakeReplicateServer, webhooks: WebhookReceiver
) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(replicate_server, client)
        job = await adapter.create_generation(CREDENTIAL, MUSIC, webhooks.hook_url)
        assert (job.status, job.raw_status) == (JobStatus.QUEUED, "starting")
        [sent] = replicate_server.requests_to("/predictions")
        assert sent.path == "/v1/models/meta/musicgen/predictions"
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        assert sent.json()["webhook_events_filter"] == ["start", "completed"]
        polled = await adapter.retrieve_generation(CREDENTIAL, job.id)
        assert polled.status is JobStatus.RUNNING
        done = await adapter.retrieve_generation(CREDENTIAL, job.id)
    assert done.status is JobStatus.SUCCEEDED
    assert [o.url for o in done.outputs] == [f"https://replicate.delivery/fake/{job.id}/out-0.png"]
    [delivery] = webhooks.wait_for(1)
    notice = adapter.parse_webhook(
        delivery.headers, delivery.body, [SecretStr(account_secret(KEY))]
    )
    assert (notice.job_id, notice.event, notice.webhook_id) == (
        job.id,
        "succeeded",
        f"msg_{job.id}_succeeded",
    )
    assert notice.job is not None and notice.job.status is JobStatus.SUCCEEDED


async def test_another_accounts_prediction_is_not_found(
    replicate_server: FakeReplicateServer,
) -> None:
    other = Credential(api_key=SecretStr("r8_other_account_bbbbbbbb"), key_id="r-2")
    async with httpx.AsyncClient() as client:
        adapter = _adapter(replicate_server, client)
        job = await adapter.create_generation(CREDENTIAL, MUSIC)
        with pytest.raises(errors.ResourceNotFoundError):
            await adapter.retrieve_generation(other, job.id)
        cancelled = await adapter.cancel_generation(CREDENTIAL, job.id)
    assert (cancelled.status, cancelled.raw_status) == (JobStatus.CANCELLED, "canceled")


async def test_a_failed_prediction_carries_its_error(replicate_server: FakeReplicateServer) -> None:
    async with httpx.AsyncClient() as client:
        adapter = _adapter(replicate_server, client)
        job = await adapter.create_generation(CREDENTIAL, MUSIC)
        replicate_server.finish(job.id, succeed=False)
        failed = await adapter.retrieve_generation(CREDENTIAL, job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and failed.error.message == "CUDA out of memory"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(401, "Unauthenticated", message="Invalid token"), errors.AuthenticationError),
        (Fault(402, "Payment required", message="Insufficient credit"), errors.QuotaExhaustedError),
        (Fault.rate_limited(retry_after="7"), errors.RateLimitedError),
        (Fault(422, "Invalid input", message="prompt is required"), errors.BadRequestError),
        (Fault.server_error(503), errors.ModelUnavailableError),
        (Fault.malformed_json(), errors.ProtocolError),
    ],
)
async def test_errors_map_to_the_taxonomy(
    replicate_server: FakeReplicateServer, fault: Fault, expected: type[errors.ProviderError]
) -> None:
    replicate_server.script(KEY, fault)
    async with httpx.AsyncClient() as client:
        with pytest.raises(expected) as caught:
            await _adapter(replicate_server, client).create_generation(CREDENTIAL, MUSIC)
    assert type(caught.value) is expected
    if isinstance(caught.value, errors.RateLimitedError):
        assert caught.value.retry_after == 7


def test_webhooks_are_verified_over_the_body_with_any_live_secret(tmp_path: Path) -> None:
    adapter = create_adapter(
        "replicate", base_url="https://api.replicate.com", http_client=httpx.AsyncClient()
    )
    assert isinstance(adapter, ReplicateAdapter)
    body = json.dumps(_fixture("prediction_succeeded.json")).encode()
    old, new = account_secret("old"), account_secret("new")
    headers = sign_standard_webhook("msg_1", body, [old])
    notice = adapter.parse_webhook(headers, body, [SecretStr(new), SecretStr(old)])
    assert (notice.job_id, notice.webhook_id) == ("gm3qorzdhgbfurvjtvhg6dckhu", "msg_1")
    with pytest.raises(errors.InvalidSignatureError):
        adapter.parse_webhook(headers, body.replace(b"Alice", b"Mallory"), [SecretStr(old)])
    stale = sign_standard_webhook("msg_1", body, [old], timestamp=1_000)
    with pytest.raises(errors.StaleWebhookError):
        adapter.parse_webhook(stale, body, [SecretStr(old)])
    junk = sign_standard_webhook("msg_2", b'{"id": 1}', [old])
    with pytest.raises(errors.MalformedWebhookError):
        adapter.parse_webhook(junk, b'{"id": 1}', [SecretStr(old)])

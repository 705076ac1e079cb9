"""The generation-job API of the real gateway over HTTP: invoke answers 202 with the job, the
provider's webhook reaches `POST /v1/webhooks/{provider}` and settles it, `GET /v1/jobs/{id}`,
cancel, content, the client's signed callback; every refusal an OpenAI-shaped error naming
the field, changing nothing."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select
from standardwebhooks import Webhook

from adapters.webhooks import sign_standard_webhook
from registry.generation.domain import JobStatus, WebhookVerdict
from registry.generation.secrets import WebhookSecretRepository
from registry.generation.tables import GenerationJobRow
from registry.generation.webhook_events import events_of_provider
from registry.orm import utcnow
from registry.outcomes import window_stats
from registry.outcomes.tables import OutcomeRow
from tests.fakes.openai_videos_server import FakeOpenAIVideoServer, video_bytes
from tests.fakes.replicate_server import FakeReplicateServer, account_secret
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.gateway.jobs_support import LOCAL_RENDER_SECONDS, JobsGateway, open_jobs_gateway
from tests.gateway.support import wait_for
from tests.generation.support import REPLICATE_KEY, RING, VIDEO_KEY
from tests.generation.test_create import BAD

ART = {"prompt": "A lighthouse at dawn", "aspect_ratio": "16:9", "num_images": 2}
MUSIC = {"prompt": "calm piano", "duration_seconds": 8}


@pytest.fixture
def gw(
    pg_url: str,
    replicate_server: FakeReplicateServer,
    openai_videos: FakeOpenAIVideoServer,
    tmp_path: Path,
) -> Iterator[JobsGateway]:
    yield from open_jobs_gateway(pg_url, replicate_server, openai_videos, tmp_path / "data")


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def _jobs(gw: JobsGateway) -> int:
    with gw.sessions.begin() as session:
        return int(session.scalar(select(func.count()).select_from(GenerationJobRow)) or 0)


def _outcomes(gw: JobsGateway) -> list[OutcomeRow]:
    with gw.sessions.begin() as session:
        rows = list(session.scalars(select(OutcomeRow)))
        session.expunge_all()
        return rows


def test_invoke_answers_202_and_the_providers_webhook_settles_the_job_once(
    gw: JobsGateway,
) -> None:
    created = gw.invoke("music-dev", MUSIC, **{"Idempotency-Key": "song-1"})
    assert created.status_code == 202, created.text
    job = created.json()
    assert (job["object"], job["status"], job["endpoint"], job["category"]) == (
        "generation.job",
        "pending",
        "music-dev",
        "text-to-music",
    )
    assert created.headers["location"] == f"/v1/jobs/{job['id']}"
    [prediction] = gw.replicate.predictions.values()
    assert prediction.webhook == f"{gw.url}/v1/webhooks/replicate?job={job['id']}"
    gw.replicate.outputs["meta/musicgen"] = "https://replicate.delivery/fake/song.wav"
    gw.replicate.finish(prediction.id)  # POSTs its signed webhook to the gateway
    [(headers, body, status)] = prediction.deliveries
    assert status == 200
    with gw.client() as client:
        read = client.get(f"/v1/jobs/{job['id']}").json()
        # The provider retries the same delivery: stored as a duplicate, nothing changes.
        again = httpx.post(f"{gw.url}/v1/webhooks/replicate?job={job['id']}", content=body,
                           headers=headers)  # fmt: skip
        after = client.get(f"/v1/jobs/{job['id']}").json()
    assert read["status"] == "completed"
    assert read["result"]["assets"][0]["url"] == "https://replicate.delivery/fake/song.wav"
    assert (again.status_code, again.json()["verdict"], again.json()["changes"]) == (
        200,
        "duplicate",
        {},
    )
    assert after == read
    with gw.sessions.begin() as session:
        verdicts = [e.verdict for e in events_of_provider(session, "replicate")]
    assert verdicts == [WebhookVerdict.ACCEPTED, WebhookVerdict.DUPLICATE]
    [outcome] = _outcomes(gw)
    assert (outcome.request_id, outcome.success) == (job["id"], True)
    # The provider's URL says no duration: the seconds the request asked for are the units.
    assert outcome.metrics == {"output_seconds": 8.0}
    # Its latency is the job's duration (the document's times are whole seconds).
    assert outcome.latency_us == pytest.approx(
        (read["finished_at"] - read["created_at"]) * 1e6, abs=1e6
    )


def test_the_same_idempotency_key_is_the_same_job_and_another_body_is_refused(
    gw: JobsGateway,
) -> None:
    first = gw.invoke("art-dev", ART, **{"Idempotency-Key": "order-2"})
    again = gw.invoke("art-dev", ART, **{"Idempotency-Key": "order-2"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = gw.invoke("art-dev", {**ART, "prompt": "other"}, **{"Idempotency-Key": "order-2"})
    error = _error(other, 422)
    assert (error["param"], error["code"]) == ("Idempotency-Key", "idempotency_key_reused")
    assert gw.replicate.created_count() == 1 and _jobs(gw) == 1


@pytest.mark.parametrize(("endpoint", "body", "param", "says"), BAD)
def test_every_category_refuses_bad_input_naming_the_field(
    gw: JobsGateway, endpoint: str, body: dict[str, Any], param: str | None, says: str
) -> None:
    error = _error(gw.invoke(endpoint, body), 400)
    assert (error["param"], error["code"], error["type"]) == (
        param,
        "invalid_value",
        "invalid_request_error",
    )
    assert says in error["message"]
    assert gw.replicate.requests == [] and _jobs(gw) == 0


@pytest.mark.parametrize(
    ("endpoint", "body", "param", "code"),
    [
        ("art-dev", {"prompt": "p", "category": "text-to-video"}, "category", "wrong_category"),
        ("art-dev", {"prompt": "p", "model": "gpt-image-1"}, "model", "unknown_parameter"),
        ("art-dev", {"prompt": "p", "callback_url": "javascript:x"}, "callback_url", "invalid_value"),
        ("art-dev", ["not", "an", "object"], None, "invalid_body"),
        # A classification endpoint: invoke reads its own body, and no job is made.
        ("helpdesk-dev", {"prompt": "p"}, "prompt", "unsupported_parameter"),
    ],
)  # fmt: skip
def test_a_wrong_category_or_call_field_is_refused_by_name(
    gw: JobsGateway, endpoint: str, body: Any, param: str | None, code: str
) -> None:
    error = _error(gw.invoke(endpoint, body), 400)
    assert (error["param"], error["code"]) == (param, code)
    assert gw.replicate.requests == [] and _jobs(gw) == 0


def test_tokens_decide_who_sees_a_job(gw: JobsGateway) -> None:
    job = gw.invoke("art-dev", ART).json()
    with httpx.Client(base_url=gw.url) as anonymous:
        unauthenticated = anonymous.get(f"/v1/jobs/{job['id']}")
    with gw.client(gw.other_token) as other:
        foreign = other.get(f"/v1/jobs/{job['id']}")
        foreign_cancel = other.post(f"/v1/jobs/{job['id']}/cancel")
        foreign_invoke = other.post("/v1/endpoints/art-dev/invoke", json=ART)
    assert _error(unauthenticated, 401)["code"] == "invalid_api_key"
    assert _error(foreign, 404)["message"] == f"job {job['id']!r} does not exist"
    assert _error(foreign_cancel, 404)["code"] == "job_not_found"
    assert _error(foreign_invoke, 404)["code"] == "endpoint_not_found"
    assert gw.job(job["id"]).status is JobStatus.PENDING
    assert gw.replicate.created_count() == 1


def test_cancel_cancels_at_the_provider_with_the_creating_key(gw: JobsGateway) -> None:
    job = gw.invoke("art-dev", ART).json()
    with gw.client() as client:
        cancelled = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    [prediction] = gw.replicate.predictions.values()
    assert prediction.status == "canceled"
    assert {r.key for r in gw.replicate.requests} == {REPLICATE_KEY}
    [outcome] = _outcomes(gw)
    assert (outcome.success, outcome.error_class, outcome.metrics) == (False, "cancelled", None)


def test_forged_stale_and_unknown_webhooks_are_refused_or_recorded_and_change_nothing(
    gw: JobsGateway,
) -> None:
    job = gw.invoke("music-dev", MUSIC).json()
    [prediction] = gw.replicate.predictions.values()
    body = json.dumps(
        {"id": prediction.id, "status": "succeeded", "output": "https://evil.test/a.wav"}
    ).encode()
    secret = [account_secret(REPLICATE_KEY)]
    url = f"{gw.url}/v1/webhooks/replicate?job={job['id']}"
    good = sign_standard_webhook("msg_good", body, secret)
    forged = httpx.post(url, content=body.replace(b"evil", b"okay"), headers=good)
    stale = httpx.post(
        url,
        content=body,
        headers=sign_standard_webhook("msg_s", body, secret, timestamp=1_600_000_000),
    )
    nobody = json.dumps({"id": "rp_nobody", "status": "succeeded", "output": None}).encode()
    unknown = httpx.post(
        f"{gw.url}/v1/webhooks/replicate",
        content=nobody,
        headers=sign_standard_webhook("msg_u", nobody, secret),
    )
    huge = httpx.post(f"{gw.url}/v1/webhooks/replicate", content=b"x" * (1024 * 1024 + 10))
    no_provider = httpx.post(f"{gw.url}/v1/webhooks/nosuch", content=b"{}")
    assert [(r.status_code, r.json()["verdict"]) for r in (forged, stale, unknown, huge)] == [
        (401, "bad_signature"),
        (401, "stale"),
        (200, "unknown_job"),
        (413, "too_large"),
    ]
    assert (no_provider.status_code, no_provider.json()["verdict"]) == (404, "unknown_provider")
    assert gw.job(job["id"]).status is JobStatus.PENDING and _outcomes(gw) == []


def test_a_local_image_is_announced_by_its_webhook_and_served_as_content_with_a_callback(
    gw: JobsGateway, hooks: WebhookReceiver
) -> None:
    """The local provider renders a real PNG, then POSTs its signed webhook to the gateway;
    the job's client gets its own signed notice; the content is the file, byte for byte."""
    callback = f"{hooks.url}/hooks/client/done"
    created = gw.invoke("local-art-dev", {"prompt": "A red fox", "callback_url": callback})
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    wait_for(lambda: gw.job(job_id).status is JobStatus.COMPLETED, 30, "the local webhook")
    [notice] = hooks.wait_for(1)
    with gw.sessions.begin() as session:
        repo = WebhookSecretRepository(session, gw.team, RING)
        [secret] = [s.get_secret_value() for s in repo.callback_secrets(0, now=utcnow())]
    assert Webhook(secret).verify(notice.body, notice.headers)["data"]["status"] == "completed"
    with gw.client() as client:
        document = client.get(f"/v1/jobs/{job_id}").json()
        [asset] = document["result"]["assets"]
        assert asset["url"] == f"{gw.url}/v1/jobs/{job_id}/content/0"
        content = client.get(asset["url"])
        missing = client.get(f"/v1/jobs/{job_id}/content/1")
    assert content.status_code == 200 and content.headers["content-type"] == "image/png"
    assert hashlib.sha256(content.content).hexdigest() == asset["sha256"]
    assert Image.open(io.BytesIO(content.content)).format == "PNG"
    assert _error(missing, 404)["code"] == "content_not_found"
    [outcome] = _outcomes(gw)
    assert (outcome.request_id, outcome.success, outcome.metrics) == (
        job_id,
        True,
        {"images": 1.0},
    )
    assert outcome.latency_us >= LOCAL_RENDER_SECONDS * 1e6  # the job's duration
    # The rollups sum the units per endpoint, version and minute: what a price applies to.
    with gw.sessions.begin() as session:
        since = outcome.at.replace(second=0, microsecond=0)
        stats = window_stats(
            session, gw.team, outcome.endpoint_id, since, since + timedelta(minutes=1)
        )
    images = stats[outcome.model_version_id].metrics["images"]
    assert (images.n, images.sum) == (1, 1.0)


def test_an_openai_video_job_is_settled_by_the_projects_webhook(gw: JobsGateway) -> None:
    job = gw.invoke("clip-dev", {"prompt": "A cat at a piano", "duration_seconds": 4}).json()
    [video] = gw.videos.videos.values()
    gw.videos.finish(video.id)  # its project webhook names the video, not our job
    assert gw.job(job["id"]).status is JobStatus.COMPLETED
    with gw.client() as client:
        [asset] = client.get(f"/v1/jobs/{job['id']}").json()["result"]["assets"]
        content = client.get(asset["url"]).content
    assert content == video_bytes(video.id) and asset["duration_seconds"] == 4.0
    assert {r.key for r in gw.videos.requests} == {VIDEO_KEY}
    [outcome] = _outcomes(gw)
    assert (outcome.success, outcome.metrics) == (True, {"output_seconds": 4.0})


def test_local_music_is_a_wav_whose_seconds_are_the_outcomes_units(gw: JobsGateway) -> None:
    created = gw.invoke("local-song-dev", {"prompt": "calm piano", "duration_seconds": 3})
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    wait_for(lambda: gw.job(job_id).status is JobStatus.COMPLETED, 30, "the local webhook")
    with gw.client() as client:
        [asset] = client.get(f"/v1/jobs/{job_id}").json()["result"]["assets"]
        content = client.get(asset["url"])
    assert (content.headers["content-type"], content.content[:4], content.content[8:12]) == (
        "audio/wav",
        b"RIFF",
        b"WAVE",
    )
    assert asset["duration_seconds"] == pytest.approx(3.0, abs=0.01)
    [outcome] = _outcomes(gw)
    assert outcome.metrics == {"output_seconds": pytest.approx(asset["duration_seconds"])}

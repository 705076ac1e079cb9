"""kill -9 of a real `modelops gateway` process between the provider's accept and the job's
persistence: the client's retry, with the same Idempotency-Key, through another gateway
replica, never makes a second provider job; the provider's webhook adopts the orphan."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from registry.generation.domain import JobStatus
from tests.fakes.openai_videos_server import FakeOpenAIVideoServer
from tests.fakes.replicate_server import FakeReplicateServer
from tests.gateway.jobs_support import JobsGateway, open_jobs_gateway
from tests.gateway.support import gateway_process
from tests.registry.test_keys_support import RING_1

ART = {"prompt": "A lighthouse at dawn"}


@pytest.fixture
def gw(
    pg_url: str,
    replicate_server: FakeReplicateServer,
    openai_videos: FakeOpenAIVideoServer,
    tmp_path: Path,
) -> Iterator[JobsGateway]:
    yield from open_jobs_gateway(pg_url, replicate_server, openai_videos, tmp_path / "data")


@pytest.mark.slow
def test_a_gateway_killed_after_the_providers_accept_makes_no_second_job_on_retry(
    gw: JobsGateway, pg_url: str
) -> None:
    env = {
        "MODELOPS_DATABASE_URL": pg_url,
        "MODELOPS_DATA_DIR": str(gw.data_dir),
        "MODELOPS_MASTER_KEY": RING_1,
        "MODELOPS_PUBLIC_URL": gw.url,  # the replica that survives hears the webhooks
    }
    gw.replicate.hang_after_accept = 30  # the provider holds its answer: the gateway waits
    answers: list[object] = []
    with gateway_process(env) as doomed:

        def call() -> None:
            headers = {"authorization": f"Bearer {gw.token}", "Idempotency-Key": "crash-3"}
            try:
                answers.append(
                    httpx.post(
                        f"{doomed.url}/v1/endpoints/art-dev/invoke",
                        json=ART,
                        headers=headers,
                        timeout=60,
                    )
                )
            except httpx.HTTPError as exc:  # the connection dies with the process
                answers.append(exc)

        client = threading.Thread(target=call)
        client.start()
        assert gw.replicate.accepted.wait(30), "the provider never got the create"
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait(timeout=30)
        client.join(timeout=30)
    assert doomed.process.returncode == -signal.SIGKILL
    assert len(answers) == 1 and isinstance(answers[0], httpx.HTTPError)
    gw.replicate.hang_after_accept = 0
    retry = gw.invoke("art-dev", ART, **{"Idempotency-Key": "crash-3"})
    assert retry.status_code == 202, retry.text
    assert (retry.json()["status"], retry.headers["idempotent-replayed"]) == ("pending", "true")
    assert gw.replicate.created_count() == 1  # the retry sent nothing
    job = gw.job(retry.json()["id"])
    assert job.in_doubt and job.provider_job_id is None
    [orphan] = gw.replicate.predictions.values()
    gw.replicate.finish(orphan.id)  # its webhook names our job: the live gateway adopts it
    adopted = gw.job(job.public_id)
    assert (adopted.provider_job_id, adopted.status) == (orphan.id, JobStatus.COMPLETED)
    assert gw.replicate.created_count() == 1

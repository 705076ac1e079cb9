"""kill -9 of the gateway between the provider's accept and the job's persistence: the retry
with the same idempotency key never makes a second provider job.

With a provider that can look a key up (localmedia), the retry finds the job the dead process
made and carries on with it. With one that cannot (Replicate), the retry sends nothing; the
provider's webhook, which names our job in its URL, adopts the orphan.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from registry.generation.domain import JobStatus, WebhookVerdict
from tests.generation.support import ROOT, JobsWorld, child_env

pytestmark = pytest.mark.anyio


def _child(
    world: JobsWorld, pg_url: str, endpoint: str, key: str, mode: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.generation.crash_child",
            pg_url,
            str(world.data_dir),
            endpoint,
            key,
            mode,
            world.runtime.public_url or "",
        ],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_a_provider_with_lookup_gives_back_the_job_the_dead_process_made(
    world: JobsWorld, pg_url: str
) -> None:
    proc = _child(world, pg_url, "local-art-dev", "crash-1", "self")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    assert "creating" in out and "created" not in out
    jobs_dir = world.data_dir / "localmedia" / "jobs"
    [made] = list(jobs_dir.iterdir())  # the provider accepted one job
    with world.sessions.begin() as session:
        from registry.generation.tables import GenerationJobRow

        [row] = session.query(GenerationJobRow).all()
        assert (row.provider_job_id, row.attempts, row.submitted_at is not None) == (None, 1, True)
    answer = await world.services.create(
        world.team, "local-art-dev", {"prompt": "A lighthouse at dawn"}, idempotency_key="crash-1"
    )
    job = world.job(str(answer.body["id"]))
    assert job.provider_job_id == made.stem
    assert list(jobs_dir.iterdir()) == [made]  # still one: nothing was sent twice
    assert answer.headers["idempotent-replayed"] == "true"


async def test_a_provider_without_lookup_is_not_sent_again_and_its_webhook_adopts_the_job(
    world: JobsWorld, pg_url: str
) -> None:
    world.replicate.hang_after_accept = 30
    proc = _child(world, pg_url, "art-dev", "crash-2", "wait")
    try:
        assert world.replicate.accepted.wait(30), "the provider never got the create"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    world.replicate.hang_after_accept = 0
    answer = await world.services.create(
        world.team, "art-dev", {"prompt": "A lighthouse at dawn"}, idempotency_key="crash-2"
    )
    assert answer.status_code == 202 and answer.body["status"] == "pending"
    assert world.replicate.created_count() == 1  # the retry sent nothing
    job = world.job(str(answer.body["id"]))
    assert job.in_doubt and job.provider_job_id is None
    [orphan] = world.replicate.predictions.values()
    world.replicate.finish(orphan.id)
    [delivery] = world.hooks.wait_for(1)
    receipt = await world.deliver(delivery, "replicate")
    assert receipt.verdict is WebhookVerdict.ACCEPTED
    assert receipt.changes["provider_job_id"] == [None, orphan.id]
    adopted = world.job(job.public_id)
    assert (adopted.provider_job_id, adopted.status) == (orphan.id, JobStatus.COMPLETED)
    assert adopted.provider_key_id == world.keys["a"]  # the key the dead process had reserved
    assert world.replicate.created_count() == 1

"""poll-generation-jobs on a real Prefect server: it settles a job whose webhook never came
(polling with the creating key) and sends the callback owed; prefect.yaml schedules it every
minute, one run at a time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import text

from dispatch.generation.handles import ProviderHandles
from dispatch.generation.runtime import JobsRuntime
from flows.params import PollJobsParams
from flows.poll_jobs import poll_generation_jobs
from gateway.jobs_service import JobServices
from registry.database import make_engine, make_session_factory
from registry.generation.domain import JobStatus
from registry.generation.jobs import GenerationJobRepository
from registry.generation.secrets import WebhookSecretRepository
from registry.keys import KeyPool
from registry.orm import utcnow
from tests.fakes.openai_videos_server import FakeOpenAIVideoServer
from tests.fakes.replicate_server import FakeReplicateServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.generation.support import REPLICATE_KEY, RING, Clock, seed_world
from tests.registry.test_keys_support import RING_1
from tests.support.prefect_server import PrefectServer

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def test_the_deployment_runs_every_minute_one_run_at_a_time() -> None:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    [deployment] = [d for d in spec["deployments"] if d["name"] == "poll-generation-jobs"]
    assert deployment["entrypoint"] == "flows/poll_jobs.py:poll_generation_jobs"
    assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    assert [(s["interval"], s["active"]) for s in deployment["schedules"]] == [(60, True)]
    PollJobsParams.model_validate(deployment["parameters"]["params"])


async def test_a_run_settles_a_job_whose_webhook_never_came_and_sends_its_callback(
    prefect_api: PrefectServer,
    registry_env: str,
    monkeypatch: pytest.MonkeyPatch,
    replicate_server: FakeReplicateServer,
    openai_videos: FakeOpenAIVideoServer,
    hooks: WebhookReceiver,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("MODELOPS_MASTER_KEY", RING_1)
    engine = make_engine(registry_env)
    sessions = make_session_factory(engine)
    team = seed_world(sessions, replicate_server.base_url, openai_videos.base_url, "default")
    with sessions.begin() as session:
        KeyPool(session, team, RING).add("replicate", "a", REPLICATE_KEY)
        WebhookSecretRepository(session, team, RING).new_callback_secret("default")
    # The job was made an hour ago (by a gateway whose provider webhooks never got through).
    clock = Clock(now=utcnow() - timedelta(hours=1))
    async with httpx.AsyncClient() as client:
        handles = ProviderHandles(sessions, RING, client, tmp_path / "data")
        runtime = JobsRuntime(sessions, handles, RING, tmp_path / "data", clock=clock)
        callback = f"{hooks.url}/hooks/client/done"
        answer = await JobServices(runtime).create(
            team, "art-dev", {"prompt": "A fox", "callback_url": callback}
        )
    job_id = str(answer.body["id"])
    first = await poll_generation_jobs(PollJobsParams())
    assert (first.polled, first.ended) == (1, 0)
    with sessions.begin() as session:
        job = GenerationJobRepository(session, team).get(job_id)
        assert job.status is JobStatus.PROCESSING
        # Its next poll is due now (the flow runs on the real clock).
        session.execute(text("UPDATE generation_jobs SET next_poll_at = now() - interval '1 s'"))
    second = await poll_generation_jobs(PollJobsParams())
    assert (second.polled, second.ended, second.callbacks) == (1, 1, 1)
    with sessions.begin() as session:
        job = GenerationJobRepository(session, team).get(job_id)
    assert job.status is JobStatus.COMPLETED
    gets = [r.key for r in replicate_server.requests if r.path.endswith(job.provider_job_id or "?")]
    assert gets == [REPLICATE_KEY, REPLICATE_KEY]
    [notice] = [d for d in hooks.wait_for(1) if d.path == "/hooks/client/done"]
    assert notice.headers["webhook-id"] == f"msg_{job_id}"
    engine.dispose()

"""Crash safety: kill the fine-tune flow's process after the provider job exists, run it again,
and there is still one provider job, one job row and one new version."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.base import Credential
from adapters.jobs import Hyperparameters, JobStatus
from adapters.local.adapter import LocalAdapter
from flows.fine_tune import fine_tune
from flows.params import FineTuneParams, RegisterModelParams
from flows.register_model import register_model
from registry.finetune_jobs import FineTuneJobRow
from tasks.dataset import validate_dataset
from tasks.finetune import fine_tune_request, upload_dataset
from tasks.finetune_plan import ClaimRequest, claim_job, plan_fine_tune
from tests.fakes.training_gate import TrainingGate
from tests.flows.conftest import wait_until
from tests.flows.finetune_support import DATA, MODEL, REPO, Env, flow_env
from tests.support.prefect_server import PrefectServer, stop_process

__all__ = ["flow_env"]

TRAIN = DATA / "train.jsonl"
TRAINING = {"n_epochs": 3, "seed": 7}


@pytest.fixture
def with_v1(prefect_api: PrefectServer, flow_env: Env) -> Env:
    asyncio.run(register_model(RegisterModelParams(model=MODEL)))
    return flow_env


def _params() -> FineTuneParams:
    return FineTuneParams(model=MODEL, dataset=str(TRAIN), training=TRAINING, poll_seconds=0.2)  # type: ignore[arg-type]


def _mid_training(env: Env) -> FineTuneJobRow | None:
    """The new job's row (v1's is the first) once it holds the provider's job id and the
    provider has stored the job's first epoch: the gate holds the trainer there."""
    rows = env.job_rows()
    if len(rows) < 2 or not rows[1].provider_job_id:
        return None
    jobs = [job for job in env.local_jobs() if job.id == rows[1].provider_job_id]
    return rows[1] if jobs and jobs[0].progress > 0 else None


def test_killing_the_flow_after_the_job_is_created_leaves_one_provider_job(
    with_v1: Env, prefect_api: PrefectServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "child.log"
    gate = TrainingGate(tmp_path / "gate")  # the child's trainer holds after epoch 1
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.flows.finetune_crash_child", _params().model_dump_json()],
            cwd=REPO,
            env={**os.environ, **prefect_api.env(), **gate.env()},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        row = wait_until(lambda: _mid_training(with_v1), timeout=120, what="the first epoch")
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        stop_process(child)
    job_id = row.provider_job_id  # type: ignore[attr-defined]
    (killed,) = [job for job in with_v1.local_jobs() if job.id == job_id]
    assert (killed.status, killed.progress) == (JobStatus.RUNNING, pytest.approx(1 / 3))

    outcome = asyncio.run(fine_tune(_params()))

    new_jobs = [job for job in with_v1.local_jobs() if job.id != _v1_job(with_v1)]
    assert [job.id for job in new_jobs] == [job_id]
    (job,) = new_jobs
    # Trained by the killed process first, then again from the start by the re-run.
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    rows = with_v1.job_rows()
    assert len(rows) == 2 and rows[1].provider_job_id == job_id
    assert rows[1].status == "succeeded"
    assert [v.version for v in with_v1.versions()] == [1, 2]
    assert (outcome.version, outcome.fine_tune_job_id) == (2, job_id)
    assert with_v1.versions()[1].lineage.fine_tune_job_id == job_id
    with capsys.disabled():
        print(
            f"\ncrash test: killed at {killed.status} {killed.progress:.0%}; re-run: one job "
            f"{job_id} ({job.attempts} trainings), v{outcome.version} {outcome.provider_model_id}"
        )


def test_a_job_created_but_never_recorded_is_found_by_its_key_not_made_again(
    with_v1: Env,
) -> None:
    # Replay a crash between the provider's create and the row update: the row holds the
    # upload but no job id, while the provider already holds the job.
    params = FineTuneParams(
        model=MODEL, dataset=str(TRAIN), training={"n_epochs": 2}, poll_seconds=0.2
    )  # type: ignore[arg-type]
    plan = plan_fine_tune.fn(MODEL, None)
    dataset = validate_dataset.fn(params.dataset, plan.category)
    claim = ClaimRequest(
        plan=plan, dataset=dataset, hyperparameters=Hyperparameters(n_epochs=2), seed=0
    )
    job = asyncio.run(upload_dataset.fn(claim_job.fn(claim), dataset))
    adapter = LocalAdapter(with_v1.data_dir)
    created = asyncio.run(adapter.create_fine_tune(Credential(), fine_tune_request(job, plan)))
    assert with_v1.job_rows()[1].provider_job_id is None

    outcome = asyncio.run(fine_tune(params))

    assert outcome.fine_tune_job_id == created.id
    assert [j.id for j in with_v1.local_jobs()] == sorted([_v1_job(with_v1), created.id])
    assert len(with_v1.job_rows()) == 2


def _v1_job(env: Env) -> str:
    return str(env.job_rows()[0].provider_job_id)

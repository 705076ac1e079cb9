"""Cancelling the fine-tune flow run in Prefect cancels the provider job.

Two real cancellations through the Prefect API: a run executed in-process (it notices on its
next poll), and a deployment run executed by a process worker, which Prefect stops with
SIGTERM before calling the flow's on_cancellation hook in the worker's process.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
import threading
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.states import Cancelling

from adapters.jobs import JobStatus
from adapters.local.store import LocalStore
from flows.fine_tune import fine_tune
from flows.params import FineTuneParams
from registry.finetune_jobs import FineTuneJobRow
from tasks.catalog import sync_catalog
from tasks.finetune_poll import FineTuneCancelled
from tests.fakes.training_gate import TrainingGate
from tests.flows.conftest import wait_until
from tests.flows.finetune_support import DATA, MODEL, REPO, Env, flow_env
from tests.support.prefect_server import PrefectServer, stop_process

__all__ = ["flow_env"]

# The trainer holds after epoch 1 of 3 (tests/fakes/training_gate.py) until the test has
# cancelled, so the cancel lands while the job trains however fast the machine is.
TRAINING = {"n_epochs": 3, "seed": 11}
POOL = "fine-tune-cancel-test"


@pytest.fixture
def synced(prefect_api: PrefectServer, flow_env: Env) -> Env:
    sync_catalog.fn()
    return flow_env


def _params(poll_seconds: float = 0.2) -> FineTuneParams:
    return FineTuneParams.model_validate(
        {
            "model": MODEL,
            "dataset": str(DATA / "train.jsonl"),
            "training": TRAINING,
            "poll_seconds": poll_seconds,
        }
    )


def _training(env: Env) -> FineTuneJobRow | None:
    """The job's row once the provider has stored the job's first epoch (where it is held)."""
    rows = env.job_rows()
    if not rows or not rows[0].provider_job_id:
        return None
    jobs = [job for job in env.local_jobs() if job.id == rows[0].provider_job_id]
    return rows[0] if jobs and jobs[0].progress > 0 else None


def _cancel(flow_run_id: str) -> None:
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(flow_run_id), Cancelling(), force=True)


def _state(flow_run_id: str) -> StateType | None:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
    return state.type if state else None


def _assert_cancelled_everywhere(env: Env, row: FineTuneJobRow) -> None:
    (job,) = env.local_jobs()
    assert job.id == row.provider_job_id
    assert job.status is JobStatus.CANCELLED
    assert job.progress < 1.0  # stopped before its last epoch
    (after,) = env.job_rows()
    assert (after.status, after.result_version_id) == ("cancelled", None)
    assert env.versions() == []


def test_cancelling_an_in_process_run_cancels_the_provider_job(
    synced: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = TrainingGate(tmp_path / "gate")
    gate.install(monkeypatch)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = asyncio.run(fine_tune(_params()))
        except BaseException as exc:
            outcome["error"] = exc

    # The copied context carries the Prefect settings that point at the test server.
    runner = threading.Thread(target=contextvars.copy_context().run, args=(run,))
    runner.start()
    try:
        row = wait_until(lambda: _training(synced), timeout=120, what="the first epoch")
        _cancel(row.flow_run_id)  # type: ignore[attr-defined]
        runner.join(timeout=120)
    finally:
        gate.release()
    store = LocalStore(synced.data_dir / "local")
    job_id = str(row.provider_job_id)  # type: ignore[attr-defined]
    wait_until(lambda: not store.is_training(job_id), what="the released trainer to stop")

    assert isinstance(outcome.get("error"), FineTuneCancelled), outcome
    _assert_cancelled_everywhere(synced, row)  # type: ignore[arg-type]
    assert _state(row.flow_run_id) is StateType.CANCELLED  # type: ignore[attr-defined]


def test_cancelling_a_worker_run_cancels_the_provider_job_from_the_hook(
    synced: Env, prefect_api: PrefectServer, tmp_path: Path
) -> None:
    _deploy()
    gate = TrainingGate(tmp_path / "gate")  # installed in the flow run's process at start-up
    env = {
        **os.environ,
        **prefect_api.env(),
        **gate.env(at_startup=True),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",  # the hook's own lines, in the worker's log
    }
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--limit", "1"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # Polls 60 s apart: the cancel arrives while the run sleeps, so the SIGTERM and the
        # hook, not the run's own check, stop the job.
        params = _params(poll_seconds=60).model_dump(mode="json")
        run = run_deployment(f"fine-tune/{POOL}", parameters={"params": params}, timeout=0)
        row = wait_until(lambda: _training(synced), timeout=180, what="the first epoch")
        assert row.flow_run_id == str(run.id)  # type: ignore[attr-defined]
        _cancel(str(run.id))
        wait_until(
            lambda: _state(str(run.id)) is StateType.CANCELLED, timeout=120, what="Cancelled"
        )
        wait_until(lambda: synced.job_rows()[0].status == "cancelled", what="the hook")
    finally:
        gate.release()
        stop_process(worker)
    _assert_cancelled_everywhere(synced, row)  # type: ignore[arg-type]
    log = (tmp_path / "worker.log").read_text()
    # Written by the hook in the worker's process, after the run's process was terminated.
    assert f"fine-tune job {row.provider_job_id} is now cancelled" in log  # type: ignore[attr-defined]


def _deploy() -> None:
    """A deployment shaped as `prefect deploy` makes one from prefect.yaml: the worker's run
    changes into the repository and loads the flow from its entrypoint."""
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"), overwrite=True)
        client.create_deployment(
            flow_id=client.create_flow_from_name("fine-tune"),
            name=POOL,
            entrypoint="flows/fine_tune.py:fine_tune",
            work_pool_name=POOL,
            pull_steps=[
                {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
            ],
            parameter_openapi_schema=fine_tune.parameters.model_dump(),
        )

"""Fixtures of the gateway tests: a trained local model (once per session), a seeded
PostgreSQL world, and the gateway serving it on 127.0.0.1; helpers of the outcome writer
tests (polling for a condition, child Python processes)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.base import Credential
from adapters.jobs import FilePurpose, FineTuneRequest, Hyperparameters, JobStatus
from adapters.local.adapter import LocalAdapter
from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway.support import (
    ROOT,
    Recorded,
    World,
    build_world,
    running_gateway,
    settings_for,
)

BASE = ROOT / "examples" / "support_tickets" / "base.jsonl"


@pytest.fixture(scope="session")
def trained_local(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data dir holding one trained local classifier, and its model id."""
    data_dir = tmp_path_factory.mktemp("local-model")
    adapter = LocalAdapter(data_dir)

    async def train() -> str:
        uploaded = await adapter.upload_file(Credential(), BASE, FilePurpose.FINE_TUNE)
        request = FineTuneRequest(
            model="tfidf-logreg",
            training_file=uploaded.id,
            hyperparameters=Hyperparameters(n_epochs=3),
            seed=5,
            suffix="gw",
            idempotency_key="gateway-tests",
        )
        job = await adapter.create_fine_tune(Credential(), request)
        job = await adapter.wait_for_fine_tune(job.id, timeout=120)
        assert job.status is JobStatus.SUCCEEDED and job.trained_model_id is not None
        return job.trained_model_id

    return data_dir, asyncio.run(train())


@pytest.fixture
def world(
    pg_url: str, openai_server: FakeOpenAIServer, trained_local: tuple[Path, str], tmp_path: Path
) -> World:
    source, model_id = trained_local
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir)
    return build_world(pg_url, openai_server.base_url, data_dir, model_id)


@dataclass
class Served:
    url: str
    sink: Recorded  # what the writer acknowledged; the rows: `stored_outcomes(world.url)`
    world: World

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


@pytest.fixture
def served(world: World) -> Iterator[Served]:
    sink = Recorded()
    with running_gateway(settings_for(world), sink) as url:
        yield Served(url, sink, world)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll `condition` every 20 ms until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        time.sleep(0.02)


def child(*args: str) -> subprocess.Popen[str]:
    """A Python child process running `args` with this checkout importable."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

"""A gateway process that creates one generation job and dies by SIGKILL at the worst moment:
after the provider accepted the job, before its answer is recorded.

    python -m tests.generation.crash_child PG_URL DATA_DIR ENDPOINT IDEMPOTENCY_KEY MODE

MODE `self`: the process kills itself (kill -9) the moment the adapter's create returns.
MODE `wait`: it just creates; the test kills it while the provider holds its answer.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from adapters.localmedia.adapter import LocalMediaAdapter
from dispatch.generation.handles import ProviderHandles
from dispatch.generation.runtime import JobsRuntime
from gateway.jobs_service import JobServices
from registry.database import make_engine, make_session_factory
from registry.teams import TeamRepository
from tests.generation.support import RING

BODY = {"prompt": "A lighthouse at dawn"}


def die_after_accept() -> None:
    original = LocalMediaAdapter.create_generation

    async def create_then_die(self: LocalMediaAdapter, *args: Any, **kwargs: Any) -> Any:
        await original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    LocalMediaAdapter.create_generation = create_then_die  # type: ignore[method-assign]


async def main(pg_url: str, data_dir: str, endpoint: str, key: str, public_url: str) -> None:
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = TeamRepository(session).ensure("alpha")
    async with httpx.AsyncClient() as client:
        handles = ProviderHandles(sessions, RING, client, Path(data_dir))
        runtime = JobsRuntime(sessions, handles, RING, Path(data_dir), public_url=public_url)
        print("creating", flush=True)
        answer = await JobServices(runtime).create(team, endpoint, BODY, idempotency_key=key)
        print("created", answer.body["id"], flush=True)


if __name__ == "__main__":
    pg, data, endpoint, key, mode, public = sys.argv[1:7]
    if mode == "self":
        die_after_accept()
    asyncio.run(main(pg, data, endpoint, key, public))

"""What the key pool adds to one provider call: chat via `ProviderHandle.call` vs the bare adapter.

    PYTHONPATH=. .venv/bin/python benchmarks/keyed_call_overhead.py --calls 300 --keys 4

Both run sequentially against the fake OpenAI server on 127.0.0.1; the pool lives in a scratch
PostgreSQL database (MODELOPS_TEST_DATABASE_URL or --server), dropped afterwards. PYTHONPATH=.
because the fake server lives in tests/fakes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from adapters.base import Credential
from adapters.chat import ChatMessage, ChatRequest, Role
from adapters.registry import chat_adapter
from dispatch.providers import ProviderHandle, open_provider
from registry.database import make_engine, make_session_factory
from registry.keys import KeyPool, MasterKeyring, new_master_key
from registry.schema import upgrade
from registry.tables import ProviderRow
from registry.teams import TeamRepository
from tests.fakes.openai_server import FakeOpenAIServer

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REQUEST = ChatRequest(model="gpt-bench", messages=[ChatMessage(role=Role.USER, content="hi")])


async def _timed(calls: int, one: Callable[[], Awaitable[object]]) -> list[float]:
    await one()  # warm the connection pools
    samples = []
    for _ in range(calls):
        tick = time.perf_counter()
        await one()
        samples.append((time.perf_counter() - tick) * 1000)
    return samples


async def _measure(url: str, ring: MasterKeyring, calls: int) -> dict[str, list[float]]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = TeamRepository(session).ensure("bench")
    async with open_provider(
        sessions, team, "openai", keyring=ring, data_dir=Path(tempfile.gettempdir())
    ) as handle:
        chat = chat_adapter(handle.adapter)
        bare = Credential(api_key=SecretStr("sk-bench-bare-0000"))

        async def pooled() -> object:
            return await _pooled_chat(handle)

        async def direct() -> object:
            return await chat.chat(bare, REQUEST)

        result = {"direct": await _timed(calls, direct), "pooled": await _timed(calls, pooled)}
    engine.dispose()
    return result


async def _pooled_chat(handle: ProviderHandle) -> object:
    chat = chat_adapter(handle.adapter)
    return await handle.call(lambda c: chat.chat(c, REQUEST), model=REQUEST.model)


def _seed(url: str, ring: MasterKeyring, base_url: str, keys: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        session.add(
            ProviderRow(name="openai", kind="openai", base_url=base_url, options={}, source_file="")
        )
        session.flush()
        pool = KeyPool(session, TeamRepository(session).ensure("bench"), ring)
        for index in range(keys):
            pool.add("openai", f"bench-{index}", f"sk-bench-{uuid.uuid4().hex}", index % 2)
    engine.dispose()


def _summary(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100)
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2), "p99": round(cuts[98], 2)}


def run(server: str, calls: int, keys: int) -> dict[str, Any]:
    name = f"modelops_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    ring = MasterKeyring.from_setting(SecretStr(new_master_key()))
    try:
        with FakeOpenAIServer() as fake:
            _seed(url, ring, fake.base_url, keys)
            samples = asyncio.run(_measure(url, ring, calls))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    direct, pooled = _summary(samples["direct"]), _summary(samples["pooled"])
    return {
        "calls": calls,
        "keys": keys,
        "direct_ms": direct,
        "pooled_ms": pooled,
        "overhead_ms_p50": round(pooled["p50"] - direct["p50"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--server", default=os.environ.get("MODELOPS_TEST_DATABASE_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--keys", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(run(args.server, args.calls, args.keys), indent=2))


if __name__ == "__main__":
    main()

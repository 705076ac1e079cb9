"""What the key pool adds to one provider call: chat via `ProviderHandle.call` vs the bare adapter.

    PYTHONPATH=. .venv/bin/python benchmarks/keyed_call_overhead.py --calls 300 --keys 4

Three legs, interleaved over --rounds, sequential against the fake OpenAI server on 127.0.0.1:
`direct` (the adapter with a fixed key), `database` (keys picked and usage written in
PostgreSQL on every call: tasks, the CLI) and `view` (a KeyPoolView: keys from memory, usage
written in a batch every second: the gateway). The pool lives in a scratch PostgreSQL database
(MODELOPS_TEST_DATABASE_URL or --server), dropped afterwards. PYTHONPATH=. because the fake
server lives in tests/fakes.
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
from dispatch.key_pool_view import KeyPoolView
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
    samples = []
    for _ in range(calls):
        tick = time.perf_counter()
        await one()
        samples.append((time.perf_counter() - tick) * 1000)
    return samples


async def _measure(
    url: str, ring: MasterKeyring, calls: int, rounds: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Latency samples (ms) and CPU seconds per leg. CPU counts the whole process (the fake
    server's threads too, alike for every leg), so the differences between legs are what count."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = TeamRepository(session).ensure("bench")
    data_dir = Path(tempfile.gettempdir())
    async with (
        KeyPoolView(engine, ring) as view,
        open_provider(sessions, team, "openai", keyring=ring, data_dir=data_dir) as database,
        open_provider(
            sessions, team, "openai", keyring=ring, data_dir=data_dir, pool_view=view
        ) as viewed,
    ):
        chat = chat_adapter(database.adapter)
        bare = Credential(api_key=SecretStr("sk-bench-bare-0000"))
        legs: dict[str, Callable[[], Awaitable[object]]] = {
            "direct": lambda: chat.chat(bare, REQUEST),
            "database": lambda: _pooled_chat(database),
            "view": lambda: _pooled_chat(viewed),
        }
        samples: dict[str, list[float]] = {name: [] for name in legs}
        cpu = dict.fromkeys(legs, 0.0)
        for one in legs.values():
            await one()  # warm the connection pools and read the view's pool
        for _ in range(rounds):  # interleaved, so a noisy neighbour hits every leg alike
            for name, one in legs.items():
                started = time.process_time()
                samples[name] += await _timed(calls // rounds, one)
                cpu[name] += time.process_time() - started
    engine.dispose()
    return samples, cpu


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
    return {"p50": round(cuts[49], 3), "p95": round(cuts[94], 3), "p99": round(cuts[98], 3)}


def run(server: str, calls: int, keys: int, rounds: int) -> dict[str, Any]:
    name = f"modelops_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    ring = MasterKeyring.from_setting(SecretStr(new_master_key()))
    try:
        with FakeOpenAIServer() as fake:
            _seed(url, ring, fake.base_url, keys)
            samples, cpu = asyncio.run(_measure(url, ring, calls, rounds))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    summaries = {leg: _summary(values) for leg, values in samples.items()}
    direct = summaries["direct"]["p50"]
    return {
        "calls_per_leg": len(samples["direct"]),
        "rounds": rounds,
        "keys": keys,
        **{f"{leg}_ms": summary for leg, summary in summaries.items()},
        "overhead_ms_p50": {
            leg: round(summaries[leg]["p50"] - direct, 3) for leg in ("database", "view")
        },
        "cpu_ms_per_call": {
            leg: round(seconds * 1000 / len(samples[leg]), 3) for leg, seconds in cpu.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--server", default=os.environ.get("MODELOPS_TEST_DATABASE_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.calls < args.rounds or args.rounds < 1:
        parser.error("--calls must be at least --rounds, and --rounds at least 1")
    print(json.dumps(run(args.server, args.calls, args.keys, args.rounds), indent=2))


if __name__ == "__main__":
    main()

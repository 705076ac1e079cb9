"""Key pool throughput on PostgreSQL: acquire + record-outcome cycles, from N processes.

    .venv/bin/python benchmarks/keys_pool.py --processes 4 --cycles 500 --keys 8

Creates a scratch database on the server (MODELOPS_TEST_DATABASE_URL or --server), drops it after.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import time
import uuid
from typing import Any

from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry.database import make_engine, make_session_factory
from registry.keys import KeyOutcome, KeyPool, MasterKeyring, NoKeyAvailableError, new_master_key
from registry.schema import upgrade
from registry.tables import ProviderRow
from registry.teams import TeamRepository

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _cycles(url: str, master: str, cycles: int, seed: int, start: Any) -> dict[str, Any]:
    """One process: acquire (own transaction), then record an outcome (own transaction)."""
    rng = random.Random(seed)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    ring = MasterKeyring.from_setting(SecretStr(master))
    with sessions.begin() as session:
        team = TeamRepository(session).ensure("bench")
    acquire_ms: list[float] = []
    unavailable = 0
    start.wait()
    began = time.perf_counter()
    for _ in range(cycles):
        tick = time.perf_counter()
        try:
            with sessions.begin() as session:
                key_id = KeyPool(session, team, ring).acquire("openai").key_id
        except NoKeyAvailableError:
            unavailable += 1
            continue
        acquire_ms.append((time.perf_counter() - tick) * 1000)
        with sessions.begin() as session:
            pool = KeyPool(session, team, ring)
            if rng.random() < 0.9:
                pool.record_success(key_id, latency_ms=100.0)
            else:
                pool.record_failure(key_id, KeyOutcome.RATE_LIMITED, retry_after=0.05, reason="429")
    elapsed = time.perf_counter() - began
    engine.dispose()
    return {"acquire_ms": acquire_ms, "unavailable": unavailable, "seconds": elapsed}


def _seed(url: str, master: str, keys: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    ring = MasterKeyring.from_setting(SecretStr(master))
    with make_session_factory(engine).begin() as session:
        session.add(ProviderRow(name="openai", kind="openai", options={}, source_file="bench"))
        session.flush()
        team = TeamRepository(session).ensure("bench")
        pool = KeyPool(session, team, ring)
        for index in range(keys):
            pool.add("openai", f"bench-{index}", f"sk-bench-{uuid.uuid4().hex}", index % 3)
    engine.dispose()


def run(server: str, processes: int, cycles: int, keys: int) -> dict[str, Any]:
    name = f"modelops_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    master = new_master_key()
    try:
        _seed(url, master, keys)
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager:
            start = manager.Barrier(processes)
            with context.Pool(processes) as workers:
                results = workers.starmap(
                    _cycles, [(url, master, cycles, seed, start) for seed in range(processes)]
                )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    latencies = sorted(ms for result in results for ms in result["acquire_ms"])
    quantiles = statistics.quantiles(latencies, n=100)
    wall = max(result["seconds"] for result in results)
    return {
        "processes": processes,
        "keys": keys,
        "cycles_per_process": cycles,
        "leases": len(latencies),
        "unavailable": sum(result["unavailable"] for result in results),
        "cycles_per_second": round(len(latencies) / wall, 1),
        "acquire_ms": {
            "p50": round(quantiles[49], 2),
            "p95": round(quantiles[94], 2),
            "p99": round(quantiles[98], 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--server", default=os.environ.get("MODELOPS_TEST_DATABASE_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--keys", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(run(args.server, args.processes, args.cycles, args.keys), indent=2))


if __name__ == "__main__":
    main()

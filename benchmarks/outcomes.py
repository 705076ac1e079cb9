"""Outcome ingest and window statistics on PostgreSQL, each against its anchor in one run.

    .venv/bin/python -m benchmarks.outcomes [--ingest 200000] [--window 10000000] [--rounds 3]

(As a module: run as a script, benchmarks/gateway.py would shadow the gateway package.)

Ingest: outcomes through the writer (submit -> spool -> batches -> COPY + rollups, until
all are committed) against a raw COPY of the same rows into a bare copy of the table,
rounds interleaved. Window: a 24-hour window's sufficient statistics from the rollups
against the same statistics from the raw rows (10M rows made by generate_series and folded
into rollups by the registry's own code). Creates a scratch database, drops it after.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from gateway.outcome_writer import OutcomeWriter, WriterConfig
from registry.database import make_session_factory
from registry.domain import Team
from registry.outcomes import (
    Outcome,
    WindowStats,
    encode_outcome,
    store_outcome_lines,
    window_stats,
)
from registry.outcomes.codec import COLUMNS
from registry.outcomes.rollups import RollupDelta
from registry.schema import upgrade

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
T0 = datetime(2026, 12, 1, tzinfo=UTC)
TEAM = Team(id=1, name="bench")
BATCH = 5000
TICK = os.sysconf("SC_CLK_TCK")


@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    name = f"modelops_bench_outcomes_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def one_connection_engine(url: str) -> Engine:
    """Everything the writer does goes through one server process, whose CPU we can read."""
    return create_engine(url, pool_size=1, max_overflow=0, pool_pre_ping=True)


def backend_cpu(pid: int) -> float:
    """CPU seconds a PostgreSQL backend has used (the server runs on this host)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def make_outcomes(n: int, seed: int = 1) -> list[Outcome]:
    rng = random.Random(seed)
    outcomes = []
    for i in range(n):
        success = rng.random() > 0.02
        outcomes.append(
            Outcome(
                request_id=f"req-{uuid.UUID(int=rng.getrandbits(128)).hex}",
                team_id=1,
                endpoint_id=1,
                model_version_id=2 if i % 10 == 0 else 1,
                at=T0 + timedelta(milliseconds=10 * i),
                latency_ms=rng.lognormvariate(5.3, 0.5),
                success=success,
                error_class=None if success else "timeout",
                ttft_ms=rng.lognormvariate(4.0, 0.4),
                input_tokens=rng.randrange(50, 3000),
                output_tokens=rng.randrange(1, 800),
                cost_micro_usd=rng.randrange(0, 40_000),
                routing_key_hash=rng.getrandbits(63),
                quality=round(rng.random(), 3) if i % 5 == 0 else None,
            )
        )
    return outcomes


# -- ingest ---------------------------------------------------------------------------------


def raw_copy_objects(url: str, outcomes: list[Outcome]) -> tuple[float, float]:
    """COPY the outcomes' values (psycopg's row writer) into a bare table; (s, CPU s)."""
    return _raw_copy(url, lambda copy, chunk: [copy.write_row(_row(o)) for o in chunk], outcomes)


def raw_copy_bytes(url: str, outcomes: list[Outcome]) -> tuple[float, float]:
    """COPY pre-encoded lines: the server's share alone; (s, CPU s)."""
    encoded = [
        b"".join(encode_outcome(o) for o in outcomes[i : i + BATCH])
        for i in range(0, len(outcomes), BATCH)
    ]
    chunks = iter(encoded)
    return _raw_copy(url, lambda copy, chunk: copy.write(next(chunks)), outcomes)


def _raw_copy(
    url: str, write: Callable[[Any, list[Outcome]], object], outcomes: list[Outcome]
) -> tuple[float, float]:
    with psycopg.connect(_libpq(url)) as conn:
        conn.execute("TRUNCATE raw_outcomes")
        conn.commit()
        pid = conn.info.backend_pid
        server, client, began = backend_cpu(pid), time.process_time(), time.perf_counter()
        with conn.cursor() as cursor:
            for start in range(0, len(outcomes), BATCH):
                with cursor.copy(f"COPY raw_outcomes ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    write(copy, outcomes[start : start + BATCH])
                conn.commit()
        seconds = time.perf_counter() - began
        return seconds, time.process_time() - client + backend_cpu(pid) - server


def _row(o: Outcome) -> tuple[Any, ...]:
    return (
        o.request_id, o.team_id, o.endpoint_id, o.model_version_id, o.at,
        round(o.latency_ms * 1000), None if o.ttft_ms is None else round(o.ttft_ms * 1000),
        o.success, o.error_class, o.input_tokens, o.output_tokens, o.cached_input_tokens,
        o.cost_micro_usd, o.price_id, o.routing_key_hash, o.quality, None,
    )  # fmt: skip


def through_writer(url: str, outcomes: list[Outcome]) -> tuple[float, float]:
    """Submit every outcome and wait until all are committed with their rollups."""
    _truncate(url)
    engine = one_connection_engine(url)
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with tempfile.TemporaryDirectory() as spool:
        writer = OutcomeWriter(engine, Path(spool), WriterConfig(batch_size=BATCH))
        writer.start()
        server, client, began = backend_cpu(pid), time.process_time(), time.perf_counter()
        for outcome in outcomes:
            writer.submit(outcome)
        if not writer.flush(timeout=600):
            raise RuntimeError("the writer did not drain")
        seconds = time.perf_counter() - began
        cpu = time.process_time() - client + backend_cpu(pid) - server
        stored = writer.status().stored
        writer.close()
    engine.dispose()
    if stored != len(outcomes):
        raise RuntimeError(f"stored {stored} of {len(outcomes)}")
    return seconds, cpu


def store_path(url: str, outcomes: list[Outcome], *, replay_one: bool) -> tuple[float, float]:
    """`store_outcome_lines` alone, batch by batch; `replay_one` adds a stored id to every
    batch, which sends it down the INSERT … ON CONFLICT path."""
    _truncate(url)
    lines = [encode_outcome(o) for o in outcomes]
    engine = one_connection_engine(url)
    sessions = make_session_factory(engine)
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with sessions.begin() as session:
        store_outcome_lines(session, lines[:1])
    server, client, began = backend_cpu(pid), time.process_time(), time.perf_counter()
    for start in range(1, len(lines), BATCH):
        batch = lines[start : start + BATCH] + (lines[:1] if replay_one else [])
        with sessions.begin() as session:
            store_outcome_lines(session, batch)
    seconds = time.perf_counter() - began
    cpu = time.process_time() - client + backend_cpu(pid) - server
    engine.dispose()
    return seconds, cpu


def _truncate(url: str) -> None:
    with psycopg.connect(_libpq(url)) as conn:
        conn.execute(
            "TRUNCATE outcomes, outcome_rollups, outcome_rollup_histograms, "
            "outcome_rollup_errors, outcome_rollup_metrics"
        )


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def ingest(url: str, n: int, rounds: int) -> None:
    outcomes = make_outcomes(n)
    with psycopg.connect(_libpq(url)) as conn:
        conn.execute("CREATE TABLE raw_outcomes (LIKE outcomes INCLUDING ALL)")
    runs: dict[str, list[tuple[float, float]]] = {}
    contenders: dict[str, Callable[[], tuple[float, float]]] = {
        "raw COPY, rows written by psycopg": lambda: raw_copy_objects(url, outcomes),
        "raw COPY, pre-encoded lines": lambda: raw_copy_bytes(url, outcomes),
        "outcome writer (spool, COPY, rollups)": lambda: through_writer(url, outcomes),
        "store, COPY path": lambda: store_path(url, outcomes, replay_one=False),
        "store, INSERT ... ON CONFLICT path": lambda: store_path(url, outcomes, replay_one=True),
    }
    for _ in range(rounds):  # interleaved: the machine's load hits every contender alike
        for name, run in contenders.items():
            runs.setdefault(name, []).append(run())
    rates = {name: statistics.median(n / s for s, _ in results) for name, results in runs.items()}
    anchor = rates["raw COPY, rows written by psycopg"]
    print(f"\nIngest of {n:,} outcomes, batches of {BATCH}, median of {rounds} interleaved rounds")
    print(f"{'':42} {'rows/s':>10} {'vs raw COPY':>12} {'CPU µs/row':>11}")
    for name, results in runs.items():
        cpu = statistics.median(c for _, c in results) / n * 1e6
        print(f"{name:42} {rates[name]:>10,.0f} {rates[name] / anchor:>12.2f} {cpu:>11.1f}")


# -- window -----------------------------------------------------------------------------------

GENERATE = """
INSERT INTO outcomes (request_id, team_id, endpoint_id, model_version_id, at, latency_us,
    ttft_us, success, error_class, input_tokens, output_tokens, cached_input_tokens,
    cost_micro_usd, routing_key_hash, quality, metrics)
SELECT 'w-' || g, 1, 1, CASE WHEN g % 10 = 0 THEN 2 ELSE 1 END,
    timestamptz '2026-12-01 00:00:00+00' + g * (interval '86400 seconds' / __N__),
    (exp(5.3 + 0.5 * n.z1) * 1000)::bigint,
    CASE WHEN g % 3 = 0 THEN (exp(4.0 + 0.4 * n.z2) * 1000)::bigint END,
    s.ok,
    CASE WHEN NOT s.ok
        THEN (ARRAY['rate_limited', 'timeout', 'model_unavailable'])[1 + g % 3]
    END,
    (random() * 3000)::int, (random() * 800)::int, (random() * 100)::int,
    (random() * 40000)::bigint, (random() * 9e18)::bigint,
    CASE WHEN g % 5 = 0 THEN round(random()::numeric, 3)::float8 END,
    CASE WHEN g % 50 = 0 THEN jsonb_build_object('csat', 1 + g % 5) END
FROM generate_series(0, __N__ - 1) AS g,
    LATERAL (SELECT random() > 0.02 + 0 * g AS ok) AS s,
    -- two standard normals per row (Box-Muller)
    LATERAL (SELECT sqrt(-2 * ln(1 - random() + 0 * g)) * cos(2 * pi() * random()) AS z1,
                    sqrt(-2 * ln(1 - random() + 0 * g)) * cos(2 * pi() * random()) AS z2) AS n
"""
AS_LINES = """COPY (SELECT request_id, team_id, endpoint_id, model_version_id,
    to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00', latency_us, ttft_us,
    success, error_class, input_tokens, output_tokens, cached_input_tokens, cost_micro_usd,
    price_id, routing_key_hash, quality, metrics FROM outcomes) TO STDOUT"""
RAW_SUMS = """SELECT model_version_id, count(*), count(*) FILTER (WHERE success), sum(latency_us),
    sum(latency_us::numeric * latency_us), count(ttft_us), sum(ttft_us),
    sum(ttft_us::numeric * ttft_us), sum(input_tokens), sum(output_tokens),
    sum(cached_input_tokens), sum(cost_micro_usd), count(quality), sum(quality::text::numeric),
    sum(quality::text::numeric * quality::text::numeric),
    percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_us),
    percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_us)
FROM outcomes WHERE team_id = 1 AND endpoint_id = 1 AND at >= :since AND at < :until
GROUP BY model_version_id ORDER BY 1"""
ROLLUP_SUMS = """SELECT model_version_id, sum(requests), sum(successes), sum(latency_sum_us),
    sum(latency_sum_sq_us2), sum(ttft_n), sum(ttft_sum_us), sum(ttft_sum_sq_us2),
    sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cost_micro_usd),
    sum(quality_n), sum(quality_sum), sum(quality_sum_sq)
FROM outcome_rollups WHERE team_id = 1 AND endpoint_id = 1 AND minute >= :since AND minute < :until
GROUP BY model_version_id ORDER BY 1"""


def generate(url: str, n: int) -> None:
    _truncate(url)
    with psycopg.connect(_libpq(url)) as conn:
        conn.execute("SELECT setseed(0.42)")
        conn.execute(GENERATE.replace("__N__", str(n)))
    fold_into_rollups(url)


def fold_into_rollups(url: str, chunk: int = 250_000) -> None:
    """Stream the raw rows out as outcome lines and fold them with `RollupDelta`."""
    engine = one_connection_engine(url)
    sessions = make_session_factory(engine)
    lines: list[bytes] = []

    def fold() -> None:
        delta = RollupDelta()
        delta.add_lines(lines)
        with sessions.begin() as session:
            delta.apply(session)
        lines.clear()

    with psycopg.connect(_libpq(url)) as conn, conn.cursor().copy(AS_LINES) as copy:
        for data in copy:
            lines.append(bytes(data))
            if len(lines) == chunk:
                fold()
    fold()
    engine.dispose()


def timed(run: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - began)
    return result, statistics.median(times)


def window(url: str, n: int) -> None:
    began = time.perf_counter()
    generate(url, n)
    made = time.perf_counter() - began
    print(f"\nWindow over {n:,} outcomes in 24 h (generated and folded in {made:.0f} s)")
    engine = create_engine(url)
    bounds = {"since": T0, "until": T0 + timedelta(days=1)}
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    with make_session_factory(engine)() as session:
        since, until = bounds["since"], bounds["until"]
        stats, rollup_s = timed(lambda: window_stats(session, TEAM, 1, since, until), 5)
        exact, _ = timed(lambda: session.execute(text(ROLLUP_SUMS), bounds).all(), 1)
        raw, raw_s = timed(lambda: session.execute(text(RAW_SUMS), bounds).all(), 2)
    engine.dispose()
    print(
        f"window_stats from rollups: {rollup_s * 1000:,.0f} ms (median of 5); "
        f"the same from raw rows: {raw_s * 1000:,.0f} ms (median of 2); "
        f"{raw_s / rollup_s:,.0f}x"
    )
    for raw_row, rollup_row in zip(raw, exact, strict=True):
        compare(raw_row, rollup_row, stats[raw_row[0]])


def compare(raw: Any, rollup: Any, stats: WindowStats) -> None:
    """Counts and sums exactly (NUMERIC against NUMERIC), quantiles within their bucket."""
    equal = sum(Decimal(a) == Decimal(b) for a, b in zip(raw[1:15], rollup[1:15], strict=True))
    floats = (
        stats.requests == raw[1]
        and stats.latency_ms.sum == float(Decimal(raw[3]) / 1000)
        and stats.quality.sum == float(raw[13])
    )
    print(
        f"version {raw[0]}: {raw[1]:,} outcomes; counts and sums equal exactly: {equal}/14; "
        f"WindowStats floats equal the raw sums: {floats}"
    )
    for q, true_us in ((0.95, raw[15]), (0.99, raw[16])):
        estimate = stats.latency_histogram.quantile(q)
        assert estimate is not None
        true = true_us / 1000
        inside = estimate.low_ms <= true < estimate.high_ms
        print(
            f"  p{q * 100:g}: histogram {estimate.estimate_ms:,.1f} ms, raw {true:,.3f} ms, "
            f"error {abs(estimate.estimate_ms / true - 1):.2%} "
            f"(bound {estimate.relative_error:.0%}; in the true value's bucket: {inside})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--server", default=os.environ.get("MODELOPS_TEST_DATABASE_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--ingest", type=int, default=200_000, help="outcomes per ingest round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--window", type=int, default=10_000_000, help="outcomes in the 24 h window"
    )
    args = parser.parse_args()
    with scratch_database(args.server) as url:
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        if args.ingest:
            ingest(url, args.ingest, args.rounds)
        if args.window:
            window(url, args.window)


if __name__ == "__main__":
    main()

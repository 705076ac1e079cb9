"""What an endpoint page of the dashboard reads, on PostgreSQL with millions of outcomes,
against the same numbers computed from the raw rows, in one run.

    .venv/bin/python -m benchmarks.dashboard [--outcomes 3000000] [--rounds 5]

The page reads a 24-hour series per version (96 steps of 15 minutes: requests, errors,
p95 from the log-bucket histograms, cost) and the window's statistics, both from the
per-minute rollups (`registry.outcomes.series`, `window_stats`). The anchor computes the
per-step counts and exact p95 from the raw outcomes. The outcomes are made by
generate_series and folded into rollups by the registry's own code (benchmarks/outcomes.py).
Creates a scratch database, drops it after.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta

from sqlalchemy import create_engine, text

from benchmarks.outcomes import DEFAULT_SERVER, T0, TEAM, generate, scratch_database, timed
from registry.database import make_session_factory
from registry.outcomes import window_stats
from registry.outcomes.series import EndpointSeries, endpoint_series
from registry.schema import upgrade

STEP_SECONDS = 15 * 60
RAW_STEPS = f"""SELECT model_version_id,
    floor(extract(epoch FROM at) / {STEP_SECONDS})::bigint * {STEP_SECONDS} AS step,
    count(*), count(*) FILTER (WHERE NOT success), sum(cost_micro_usd),
    percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_us)
FROM outcomes WHERE team_id = 1 AND endpoint_id = 1 AND at >= :since AND at < :until
GROUP BY 1, 2 ORDER BY 1, 2"""


def page_reads(url: str, rounds: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    until = T0 + timedelta(days=1) - timedelta(minutes=1)  # inside the day's last minute
    with make_session_factory(engine)() as session:

        def page() -> EndpointSeries:
            series = endpoint_series(session, TEAM, 1, until, points=96, step_minutes=15)
            window_stats(session, TEAM, 1, series.starts[0], series.starts[-1] + series.step)
            return series

        series, page_s = timed(page, rounds)
        bounds = {"since": series.starts[0], "until": series.starts[-1] + series.step}
        raw, raw_s = timed(lambda: session.execute(text(RAW_STEPS), bounds).all(), 2)
    engine.dispose()
    print(
        f"endpoint page reads (24 h series + window statistics) from rollups: "
        f"{page_s * 1000:,.0f} ms (median of {rounds}); per-step counts and p95 from raw rows: "
        f"{raw_s * 1000:,.0f} ms (median of 2); {raw_s / page_s:,.0f}x"
    )
    check(series, raw)


def check(series: EndpointSeries, raw: list[tuple[int, int, int, int, int, int]]) -> None:
    """Per step: counts and cost equal exactly; p95 within its bucket's 10%."""
    origin = int(series.starts[0].timestamp())
    equal = worst = 0.0
    for version, step, requests, errors, cost, p95_us in raw:
        got = series.versions[version]
        i = (int(step) - origin) // STEP_SECONDS
        same = (got.requests[i], got.errors[i], got.cost_micro_usd[i]) == (requests, errors, cost)
        equal += same
        estimate = got.p95_ms[i]
        assert estimate is not None
        worst = max(worst, abs(estimate / (p95_us / 1000) - 1))
    print(
        f"{len(raw)} (version, step) cells: counts, errors and cost equal the raw rows in "
        f"{equal:.0f}; p95 worst relative error {worst:.2%} (bound 10%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--server", default=os.environ.get("MODELOPS_TEST_DATABASE_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--outcomes", type=int, default=3_000_000, help="outcomes in 24 h")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with scratch_database(args.server) as url:
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        began = time.perf_counter()
        generate(url, args.outcomes)
        made = time.perf_counter() - began
        print(f"{args.outcomes:,} outcomes in 24 h (generated and folded in {made:.0f} s)")
        page_reads(url, args.rounds)


if __name__ == "__main__":
    main()

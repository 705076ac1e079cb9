"""wrk as the load generator: one fixed-duration run of chat requests, its JSON summary parsed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.gateway_procs import BenchmarkError

SCRIPT = Path(__file__).with_name("gateway_wrk.lua")
MARKER = "WRK_JSON "


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: `requests` counts every completed response, `status_errors` those not 2xx or
    3xx, `failed` those plus socket errors (connect, read, write, timeout)."""

    requests: int
    failed: int
    status_errors: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @property
    def succeeded(self) -> int:
        return max(self.requests - self.status_errors, 0)

    @property
    def rps(self) -> float:
        """Successful responses per second."""
        return self.succeeded / self.seconds if self.seconds > 0 else 0.0


def parse_wrk_output(stdout: str) -> WrkResult:
    """The summary the Lua `done()` printed; wrk's own text report around it is ignored."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            summary = json.loads(line[len(MARKER) :])
            break
    else:
        raise BenchmarkError(f"wrk printed no {MARKER.strip()} line", stdout[-2000:])
    errors, latency = summary["errors"], summary["latency_us"]
    completed = summary["requests"]
    # wrk reports latency percentiles of an empty histogram as 0 and min as INT64_MIN.
    ms = (lambda key: latency[key] / 1000.0) if completed else (lambda key: 0.0)
    return WrkResult(
        requests=completed,
        failed=sum(errors.values()),
        status_errors=errors["status"],
        seconds=summary["duration_us"] / 1e6,
        p50_ms=ms("p50"),
        p90_ms=ms("p90"),
        p99_ms=ms("p99"),
        mean_ms=ms("mean"),
        max_ms=ms("max"),
    )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise BenchmarkError("wrk is not installed: `apt-get install wrk` (Debian's package)")
    return found


def run_wrk(
    url: str,
    body: str,
    authorization: str | None,
    *,
    connections: int,
    seconds: float,
    timeout: float = 10.0,
) -> WrkResult:
    """One thread: on two cores, wrk must leave the other to the server under test. The body
    and token go through the environment, never argv."""
    argv = [
        wrk_binary(),
        "--threads=1",
        f"--connections={connections}",
        f"--duration={max(round(seconds), 1)}s",
        f"--timeout={round(timeout)}s",
        "--latency",
        f"--script={SCRIPT}",
        url,
    ]
    env = {**os.environ, "WRK_BODY": body, "WRK_AUTHORIZATION": authorization or ""}
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=seconds + timeout + 30
    )
    if done.returncode != 0:
        raise BenchmarkError(f"wrk exited with {done.returncode}", done.stderr.strip()[-2000:])
    return parse_wrk_output(done.stdout)

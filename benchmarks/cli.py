"""Wall time of the CLI's read commands, against a bare `python -c pass` on the same machine.

    .venv/bin/python benchmarks/cli.py --runs 7

Each command runs as its own process on a migrated SQLite database with the example
catalog synced and one version registered; the table shows medians of wall time and of
the process's CPU time (user + system, steadier on a busy machine) and their ratios.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "support-intent"
READ_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("models", "list"),
    ("models", "show", MODEL),
    ("models", "versions", MODEL),
    ("models", "history", MODEL),
    ("keys", "list"),
    ("approvals", "list"),
    ("endpoints", "list"),
)
SETUP: tuple[tuple[str, ...], ...] = (
    ("db", "upgrade"),
    ("catalog", "sync"),
    ("models", "add-version", MODEL, "--provider-model-id", "bench-1", "--actor", "bench"),
)


def _environment(data_dir: Path) -> dict[str, str]:
    # As a user's shell has it: no MODELOPS_ settings of ours, and bytecode caches written
    # and read (PYTHONDONTWRITEBYTECODE would recompile every module on each start).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MODELOPS_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    python_path = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env |= {
        "MODELOPS_DATA_DIR": str(data_dir),
        "MODELOPS_CATALOG_DIR": str(ROOT / "catalog"),
        "PYTHONPATH": os.pathsep.join(python_path),
    }
    return env


def _cli(args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "modelops.cli", *args]


def _available(args: tuple[str, ...], env: dict[str, str]) -> bool:
    """Whether this build has the command (some are added later)."""
    probe = subprocess.run(_cli((*args[:1], "--help")), env=env, capture_output=True, check=False)
    return probe.returncode == 0


def _median_seconds(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `runs` runs of `argv`."""
    wall, cpu = [], []
    for _ in range(runs):
        before = _children_cpu()
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, check=False)
        wall.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - before)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
    return statistics.median(wall), statistics.median(cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="Runs per command (median reported).")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelops-bench-") as scratch:
        env = _environment(Path(scratch))
        for step in SETUP:
            subprocess.run(_cli(step), env=env, capture_output=True, check=True)
        anchor = _median_seconds([sys.executable, "-c", "pass"], env, options.runs)
        print(f"{'command':<40} {'wall ms':>8} {'ratio':>6} {'cpu ms':>8} {'ratio':>6}")
        _row("python -c pass", anchor, anchor)
        for command in READ_COMMANDS:
            name = "modelops " + " ".join(command)
            if _available(command, env):
                _row(name, _median_seconds(_cli(command), env, options.runs), anchor)
            else:
                print(f"{name:<40} {'(not in this build)':>30}")


def _row(name: str, measured: tuple[float, float], anchor: tuple[float, float]) -> None:
    (wall, cpu), (anchor_wall, anchor_cpu) = measured, anchor
    print(
        f"{name:<40} {wall * 1000:>8.0f} {wall / anchor_wall:>6.1f} "
        f"{cpu * 1000:>8.0f} {cpu / anchor_cpu:>6.1f}"
    )


if __name__ == "__main__":
    main()

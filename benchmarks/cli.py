"""Wall time of the CLI's read commands, against a bare `python -c pass` on the same machine.

    .venv/bin/python benchmarks/cli.py --runs 7

Each command runs as its own process on a migrated SQLite database with the example
catalog synced and one version registered; the table shows medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELOPS_")}
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


def _median_seconds(argv: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="Runs per command (median reported).")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelops-bench-") as scratch:
        env = _environment(Path(scratch))
        for step in SETUP:
            subprocess.run(_cli(step), env=env, capture_output=True, check=True)
        anchor = _median_seconds([sys.executable, "-c", "pass"], env, options.runs)
        print(f"{'command':<40} {'median ms':>10} {'x python -c pass':>17}")
        print(f"{'python -c pass':<40} {anchor * 1000:>10.0f} {1.0:>17.1f}")
        for command in READ_COMMANDS:
            if not _available(command, env):
                print(f"{'modelops ' + ' '.join(command):<40} {'(not in this build)':>28}")
                continue
            seconds = _median_seconds(_cli(command), env, options.runs)
            name = "modelops " + " ".join(command)
            print(f"{name:<40} {seconds * 1000:>10.0f} {seconds / anchor:>17.1f}")


if __name__ == "__main__":
    main()

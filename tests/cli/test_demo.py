"""`modelops demo` as a new user runs it: a fresh directory, the shipped catalog and data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODELOPS = [sys.executable, "-m", "modelops.cli"]


def _modelops(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MODELOPS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_demo_walks_the_lifecycle_and_leaves_an_explorable_ledger(tmp_path: Path) -> None:
    for part in ("catalog", "examples"):
        shutil.copytree(REPO / part, tmp_path / part)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MODELOPS_", "PREFECT_"))
    }
    env["MODELOPS_DATABASE_URL"] = "postgresql+psycopg://ignored@127.0.0.1:1/never"

    demo = _modelops(tmp_path, "demo", env=env)

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Traceback" not in demo.stderr
    for line in (
        "2. register-model: catalog synced",
        "4. fine-tune: v2 from v1",
        "5. evaluate v2: accuracy 0.9",
        "answering as alice through the Prefect API",
        "v2 is now production (approved by alice)",
        "tickets through POST /v1/endpoints/support-intent/invoke",
        "the official openai client, base_url http://127.0.0.1:",
        "10. rollback: v3 taken down, v2 restored",
        "the endpoint followed the rollback: 100 more tickets served by v2",
        "11. what the gateway recorded, per version:",
        "production just before the rollback",
        "12. deploy by canary onto support-intent-canary (serving v2)",
        "v4: succeeded: v4 serves 100% of support-intent-canary",
        "v5: rolled_back in step 1",
        "the deciding measurement: baseline",
        "error_rate: change +0.",
    ):
        assert line in demo.stdout, demo.stdout
    # The demo ignores MODELOPS_DATABASE_URL and leaves its SQLite database for exploring.
    explore = {**env, "MODELOPS_DATA_DIR": str(tmp_path / ".modelops" / "demo")}
    explore.pop("MODELOPS_DATABASE_URL")
    versions = json.loads(
        _modelops(tmp_path, "models", "versions", "support-intent", "--json", env=explore).stdout
    )
    assert [(v["version"], v["stage"]) for v in versions] == [
        (1, "rejected"),
        (2, "production"),
        (3, "archived"),
        (4, "development"),  # promoted on a development endpoint: no stage to move
        (5, "rejected"),  # rolled back by its canary
    ]
    assert versions[1]["lineage"]["parent_version"] == 1
    assert versions[1]["lineage"]["dataset_sha256"]

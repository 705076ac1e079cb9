"""`modelops demo` as a new user runs it: a fresh directory, the shipped catalog and data."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODELOPS = [sys.executable, "-m", "modelops.cli"]


def _lines_after(out: str, start: str, count: int) -> list[str]:
    """The line that starts with `start` and the `count` lines after it."""
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    return lines[first : first + count + 1]


def _assert_live_steps(out: str) -> None:
    """Alerts, A/B test and generation job, each over the demo's live gateway."""
    alert = _lines_after(out, "9. alerts:", 5)
    assert "100 requests through the gateway on support-intent-prod" in alert[0], out
    assert alert[2] == "   the gateway answered 60 x HTTP 200, 40 x HTTP 400", out
    assert re.fullmatch(
        r"   \d\d:\d\d alert\.firing: alert #1 error-rate on support-intent-prod - "
        r"error_rate 40\.00% over 5m \(n=100\); fires above 5\.00%; received as msg_\w+, "
        r"signature verified",
        alert[3],
    ), out
    assert re.match(r"   \d\d:\d\d alert\.resolved: alert #1 error-rate", alert[4]), out
    assert alert[5].endswith("2 notifications received and verified, 0 refused"), out
    assert out.count("alert.firing") == 1 and out.count("alert.resolved") == 1
    ab = _lines_after(out, "10. ab-test #1:", 5)
    assert ab[0].startswith("10. ab-test #1: v2 (a) vs v3 (b), 50/50 on support-intent-ab"), out
    assert re.match(r"   after \d+ looks: b wins: success_rate: b is above a", ab[1]), out
    resolved = re.match(
        r"   through the gateway: (\d+) requests resolved \(v2 (\d+), v3 (\d+);", ab[4]
    )
    assert resolved is not None, out
    total, on_a, on_b = (int(n) for n in resolved.groups())
    assert total == on_a + on_b and on_b > 0 and total % 500 == 0
    assert "test #1 is finished" in ab[4]
    job = _lines_after(out, "11. generation job:", 4)
    assert re.fullmatch(r"   invoke demo-art-dev: HTTP 202, job genjob_\w+ pending", job[1]), out
    assert job[2].endswith(": completed"), out
    assert " accepted (signature verified), changed status ['pending', 'completed']" in job[3]
    assert re.match(r"   result: image/png, \d+ bytes, 320x180, sha256 \w+ \(checked\)", job[4])


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
        "13. rollback: v3 taken down, v2 restored",
        "the endpoint followed the rollback: 100 more tickets served by v2",
        "14. what the gateway recorded, per version:",
        "production just before the rollback",
        "15. deploy by canary onto support-intent-canary (serving v2)",
        "v4: succeeded: v4 serves 100% of support-intent-canary",
        "v5: rolled_back in step 1",
        "the deciding measurement: baseline",
        "error_rate: change +0.",
        "blue-green: v6 gets a preview route on support-intent-canary (no user traffic)",
        "smoke on the preview: error rate 0.00% (0 of 50 smoke requests failed) is within the limit",
        "switched: v6=100% stable, v4=0% preview",
        "v6: succeeded: v6 serves 100% of support-intent-canary",
        "undeploy: support-intent-canary is undeployed",
        "16. a batch job reported 300 outcomes of its own calls through POST /v1/outcomes",
        "usage today (modelops usage --by version)",
        "recommendation: support-intent-batch breached its error-rate SLO: 10.00% of requests",
    ):
        assert line in demo.stdout, demo.stdout
    # Clients kept sending while the candidate was previewed; none of it reached the preview.
    assert re.search(r"while previewed, requests served: v4 [1-9]\d*, v6 50 ", demo.stdout)
    _assert_live_steps(demo.stdout)
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
        (6, "development"),  # switched by blue-green on the development endpoint
    ]
    assert versions[1]["lineage"]["parent_version"] == 1
    assert versions[1]["lineage"]["dataset_sha256"]

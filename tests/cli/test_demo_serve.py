"""`modelops demo --serve`: after the lifecycle, the gateway stays up with its dashboard
until Ctrl-C, and the address and token it prints sign a person in to the demo's data."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_serve_keeps_the_dashboard_up_until_interrupted(tmp_path: Path) -> None:
    for part in ("catalog", "examples"):
        shutil.copytree(REPO / part, tmp_path / part)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELOPS_", "PREFECT_"))}
    env["PYTHONPATH"] = str(REPO)
    demo = subprocess.Popen(
        [sys.executable, "-m", "modelops.cli", "demo", "--serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stdout is not None
        printed = []
        for line in demo.stdout:  # the demo's own pace; the pytest timeout bounds it
            printed.append(line)
            if line.startswith("17. dashboard: "):
                break
        found = re.search(r"(http://127\.0\.0\.1:\d+)/ui/", printed[-1])
        if not found:  # the demo ended early: its stderr says why
            assert demo.stderr is not None
            pytest.fail("".join(printed) + demo.stderr.read())
        token = demo.stdout.readline().strip()
        assert token.startswith("mo_")
        client = httpx.Client(base_url=found.group(1))
        signed = client.post("/ui/sign-in", data={"token": token})
        assert signed.status_code == 303
        page = client.get("/ui/endpoints/support-intent")
        assert page.status_code == 200 and "support-intent" in page.text
        assert client.get("/ui/models/support-intent").status_code == 200
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=60)
        assert demo.returncode == 0, err
        assert "gateway stopped" in out and "Traceback" not in err
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()

"""The legs of the gateway benchmark: what serves the chat requests wrk sends, and how it starts.

A leg starts its server (closed by the `ExitStack` it is handed) and returns the `Target` wrk
and the check aim at; `after_run` adds what only that leg can tell (outcome rows, for one).
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.gateway_procs import BenchmarkError, Service, free_port, say

LITELLM_VERSION = "1.108.7"
LITELLM_MODEL = "bench-chat"
LITELLM_MASTER_KEY = "sk-bench-litellm-master"


@dataclass(frozen=True)
class Upstream:
    base_url: str  # OpenAI-style, ending in /v1
    service: Service


@dataclass(frozen=True)
class Target:
    url: str  # the chat completions URL
    model: str
    authorization: str | None
    server_pid: int  # the process tree whose CPU time is charged to this leg


class Leg:
    name = ""
    label = ""

    def unavailable(self) -> str | None:
        """Why this leg cannot run on this machine (it is then skipped), or None."""
        return None

    def start(self, stack: ExitStack, upstream: Upstream, workdir: Path) -> Target:
        raise NotImplementedError

    def after_run(self, target: Target, completed: int) -> dict[str, object]:
        """Extra figures once the timed runs are over; `completed` = responses wrk counted."""
        return {}


class DirectLeg(Leg):
    """wrk straight at the fake upstream: the floor every proxy adds to, and its ceiling."""

    name, label = "direct", "direct → upstream"

    def start(self, stack: ExitStack, upstream: Upstream, workdir: Path) -> Target:
        return Target(
            url=f"{upstream.base_url}/chat/completions",
            model="gpt-bench",
            authorization="Bearer sk-bench-direct",
            server_pid=upstream.service.pid,
        )


class LiteLLMLeg(Leg):
    """LiteLLM's proxy in its own venv: one worker, no database, telemetry off."""

    name, label = "litellm", f"LiteLLM {LITELLM_VERSION} proxy → upstream"

    def __init__(self, venv: Path, startup_timeout: float) -> None:
        self.venv, self.startup_timeout = venv, startup_timeout

    def start(self, stack: ExitStack, upstream: Upstream, workdir: Path) -> Target:
        ensure_litellm_venv(self.venv)
        config = workdir / "litellm.yaml"
        config.write_text(yaml.safe_dump(litellm_config(upstream.base_url), sort_keys=False))
        port = free_port()
        argv = [str(self.venv / "bin" / "litellm"), "--config", str(config)]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
        service = Service("litellm", argv, workdir / "litellm.log", litellm_env(), cwd=workdir)
        stack.callback(service.stop)
        service.wait_listening(port, self.startup_timeout)
        return Target(
            url=f"http://127.0.0.1:{port}/v1/chat/completions",
            model=LITELLM_MODEL,
            authorization=f"Bearer {LITELLM_MASTER_KEY}",
            server_pid=service.pid,
        )


def litellm_config(upstream_base_url: str) -> dict[str, object]:
    """One model on the fake upstream as an OpenAI-compatible api_base; no callbacks."""
    return {
        "model_list": [
            {
                "model_name": LITELLM_MODEL,
                "litellm_params": {
                    "model": "openai/gpt-bench",
                    "api_base": upstream_base_url,
                    "api_key": "sk-bench-upstream",
                },
            }
        ],
        "litellm_settings": {"callbacks": [], "success_callback": [], "failure_callback": []},
        # A master key makes LiteLLM check the bearer token, as the modelops gateway does.
        "general_settings": {"master_key": LITELLM_MASTER_KEY},
    }


def litellm_env() -> dict[str, str]:
    """No database (its presence switches LiteLLM to spend logs), no network fetches."""
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL"}}
    env.update(
        LITELLM_TELEMETRY_DISABLED="true",
        LITELLM_LOCAL_MODEL_COST_MAP="true",  # else it fetches the cost map from the internet
        NO_DOCS="true",
    )
    return env


def ensure_litellm_venv(venv: Path) -> None:
    """Create the venv with LiteLLM's proxy at the pinned version, unless it is there already."""
    python = venv / "bin" / "python"
    if (venv / "bin" / "litellm").exists():
        found = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if found != LITELLM_VERSION:
            say(f"note: {venv} has LiteLLM {found or '?'}, not {LITELLM_VERSION}")
        return
    say(
        f"LiteLLM's venv {venv} is missing: creating it (pip install "
        f"'litellm[proxy]=={LITELLM_VERSION}', a few minutes)"
    )
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", f"litellm[proxy]=={LITELLM_VERSION}"],
    ]
    for argv in steps:
        if subprocess.run(argv, stdout=sys.stderr).returncode != 0:
            raise BenchmarkError(f"could not create LiteLLM's venv: `{' '.join(argv)}` failed")

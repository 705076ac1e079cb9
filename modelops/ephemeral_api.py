"""Prefect's ephemeral API server, started so that it dies with the process that needs it.

Prefect starts the server as a child process (`SubprocessASGIServer`) and stops it at exit;
a parent killed with SIGKILL never gets there and used to leave a 200 MB server behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import prefect
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import get_current_settings

from modelops.prefect_env import EphemeralApiError

# linux/prctl.h: the signal the kernel sends a process when its parent thread exits.
PR_SET_PDEATHSIG = 1
# Prefect's default (20 s) is too short for a fresh SQLite database on a busy machine.
STARTUP_SECONDS = 90


class _ServerBoundToParent(SubprocessASGIServer):
    """Prefect's ephemeral server, with the server's output in a log file and, on Linux,
    the kernel's promise that the server gets SIGTERM when this process dies."""

    log_path: Path

    def _run_uvicorn_command(self) -> subprocess.Popen[bytes]:
        # Prefect 3.8.8's command and environment (pinned in pyproject.toml; a test compares
        # them with Prefect's own); only where the output goes and the pre-exec hook differ.
        server_env = {
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        }
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                args=[
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(prefect.__module_path__.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env={
                    **os.environ,
                    **server_env,
                    **get_current_settings().to_environment_variables(exclude_unset=True),
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent_hook(),
            )


def start_ephemeral_api(log_path: Path) -> str:
    """Start the server Prefect's client will use (it looks for this very instance) and
    return its API URL. Call it from the main thread: the kernel signals the child when the
    thread that started it ends, and the main thread ends only with the process."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    server: SubprocessASGIServer = _ServerBoundToParent()  # or the one Prefect already has
    if not isinstance(server, _ServerBoundToParent):
        return server.api_url
    server.log_path = log_path
    try:
        server.start(timeout=_startup_seconds())
    except RuntimeError as exc:
        raise EphemeralApiError(
            f"Prefect's ephemeral API did not start ({exc}); its log is {log_path}"
        ) from None
    return server.api_url


def _startup_seconds() -> int:
    if "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in os.environ:
        return get_current_settings().server.ephemeral.startup_timeout_seconds
    return STARTUP_SECONDS


def _die_with_parent_hook() -> Callable[[], None] | None:
    """What the child runs between fork and exec: ask for SIGTERM when the parent dies, and
    exit at once if it died already (between the fork and this call). It only makes system
    calls (no imports, no locks), so it is safe in a child forked from a threaded parent."""
    if not sys.platform.startswith("linux"):
        return None  # no such kernel feature: Prefect's own stop at exit is all there is
    if threading.current_thread() is not threading.main_thread():
        return None  # the signal would come when this thread ends, not the process
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls
    parent = os.getpid()

    def hook() -> None:
        if prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM)) != 0 or os.getppid() != parent:
            os._exit(1)

    return hook

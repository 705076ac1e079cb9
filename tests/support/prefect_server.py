"""A real Prefect API for tests: `prefect server start` on a PostgreSQL database of its own.

The ephemeral SQLite API locks up under load, so tests that need Prefect share one
server per session; it and its database are removed when the session ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

STARTUP_SECONDS = 120


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    home: Path
    log: Path

    def env(self) -> dict[str, str]:
        """Environment for any process that should talk to this server."""
        return {
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prefect_server(server_url: str, workdir: Path) -> Iterator[PrefectServer]:
    """Start a Prefect server backed by a fresh PostgreSQL database on `server_url`'s host."""
    name = f"prefect_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = make_url(server_url).set(drivername="postgresql+asyncpg", database=name)
    port = free_port()
    home = workdir / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    server = PrefectServer(
        api_url=f"http://127.0.0.1:{port}/api", home=home, log=workdir / "server.log"
    )
    env = {
        **os.environ,
        **server.env(),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": database.render_as_string(hide_password=False),
        "PREFECT_UI_ENABLED": "true",
        # The UI asks the API at this address; it defaults to port 4200 whatever --port says.
        "PREFECT_UI_API_URL": server.api_url,
    }
    env.pop("PREFECT_API_URL")
    with server.log.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(server, process)
        yield server
    finally:
        stop_process(process)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _wait_healthy(server: PrefectServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited: {server.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)  # polling the health endpoint: there is nothing to block on
    raise RuntimeError(f"prefect server not healthy after {STARTUP_SECONDS}s")


def stop_process(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    """Stop a process and its group: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, 15)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait(timeout=10)

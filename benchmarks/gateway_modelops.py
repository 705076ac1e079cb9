"""The modelops gateway leg: a throwaway PostgreSQL database, a catalog whose provider is the fake
upstream, an endpoint and a token made through the CLI, then `modelops gateway` on one worker.

`setup_through_cli` is the hook that prepares the database; `--gateway-cmd` is how it starts.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from benchmarks.gateway_legs import Leg, Target, Upstream
from benchmarks.gateway_procs import (
    REPO,
    BenchmarkError,
    Service,
    free_port,
    say,
    tree_pythonpath,
)

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_COMMAND = "{python} -m modelops.cli gateway --host 127.0.0.1 --port {port} --workers 1"
TEAM, PROVIDER, MODEL, ENDPOINT = "bench", "bench-upstream", "bench-chat", "bench-chat"


@dataclass(frozen=True)
class Cli:
    """`modelops …` as a user runs it, on the benchmark's database and catalog."""

    env: dict[str, str]

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "modelops.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
        )
        if done.returncode != 0:
            raise BenchmarkError(
                f"`modelops {' '.join(args)}` exited with {done.returncode}", done.stderr.strip()
            )
        return done.stdout


def write_catalog(catalog: Path, upstream_base_url: str) -> None:
    (catalog / "providers").mkdir(parents=True)
    (catalog / "models").mkdir()
    provider = {"name": PROVIDER, "kind": "openai", "base_url": upstream_base_url}
    model = {
        "name": MODEL,
        "team": TEAM,
        "provider": PROVIDER,
        "base_model": "gpt-bench",
        "category": "chat",
        "description": "Chat on the benchmark's fake upstream",
    }
    (catalog / "providers" / f"{PROVIDER}.yaml").write_text(yaml.safe_dump(provider))
    (catalog / "models" / f"{MODEL}.yaml").write_text(yaml.safe_dump(model))


def setup_through_cli(cli: Cli) -> str:
    """Schema, catalog, a provider key, version 1, an endpoint on it; returns a team token."""
    cli("db", "upgrade")
    cli("catalog", "sync")
    cli("keys", "add", PROVIDER, "--label", "bench", stdin="sk-bench-upstream-key")
    cli("models", "add-version", MODEL, "--provider-model-id", "gpt-bench")
    # Version 1 stays in development (no promotion here), so the endpoint is a development
    # one; serving is the same path in every environment.
    on_version_1 = ("--model", MODEL, "--environment", "development", "--version", "1")
    cli("endpoints", "create", ENDPOINT, *on_version_1)
    token: str = json.loads(cli("tokens", "create", "--label", "bench", "--json"))["token"]
    return token


class ModelopsLeg(Leg):
    """`modelops gateway` with outcome recording on PostgreSQL; counts outcome rows after."""

    name, label = "modelops", "modelops gateway → upstream"

    def __init__(
        self,
        server: str,
        command: str,
        startup_timeout: float,
        keep: bool,
        http_server: str = "uvicorn",
    ) -> None:
        self.server, self.command = server, command
        if http_server != "uvicorn":  # another leg: the same gateway on another HTTP server
            self.name, self.label = (
                f"modelops-{http_server}",
                f"modelops on {http_server} → upstream",
            )
            self.command = f"{command} --server {http_server}"
        self.startup_timeout, self.keep = startup_timeout, keep
        self.database_url = ""
        self.service: Service | None = None

    def unavailable(self) -> str | None:
        """The setup needs the endpoints and tokens commands; the default start command also
        needs `modelops gateway` (a custom --gateway-cmd is taken on trust)."""
        default = self.command.startswith(DEFAULT_COMMAND)
        env = {**os.environ, "PYTHONPATH": tree_pythonpath()}
        for command in ("endpoints", "tokens", *(("gateway",) if default else ())):
            argv = [sys.executable, "-m", "modelops.cli", command, "--help"]
            if subprocess.run(argv, capture_output=True, env=env, cwd=REPO).returncode != 0:
                return f"`modelops {command}` does not exist in this tree yet (this leg needs it)"
        probe = [sys.executable, "-c", "from gateway.app import create_app"]
        if default and subprocess.run(probe, capture_output=True, env=env, cwd=REPO).returncode:
            return "gateway.app.create_app does not import in this tree yet"
        return None

    def start(self, stack: ExitStack, upstream: Upstream, workdir: Path) -> Target:
        workdir = workdir / self.name  # its own catalog, data and log: legs run side by side
        workdir.mkdir()
        self.database_url = self._create_database(stack)
        write_catalog(workdir / "catalog", upstream.base_url)
        env = {
            **os.environ,
            "PYTHONPATH": tree_pythonpath(),
            "MODELOPS_DATABASE_URL": self.database_url,
            "MODELOPS_CATALOG_DIR": str(workdir / "catalog"),
            "MODELOPS_DATA_DIR": str(workdir / "modelops-data"),
            "MODELOPS_TEAM": TEAM,
        }
        env["MODELOPS_MASTER_KEY"] = Cli(env)("keys", "new-master").strip()
        token = setup_through_cli(Cli(env))
        port = free_port()
        argv = shlex.split(self.command.format(python=shlex.quote(sys.executable), port=port))
        self.service = Service(self.label, argv, workdir / "gateway.log", env, cwd=REPO)
        stack.callback(self.service.stop)
        self.service.wait_listening(port, self.startup_timeout)
        _wait_ready(f"http://127.0.0.1:{port}/readyz", self.startup_timeout)
        return Target(
            url=f"http://127.0.0.1:{port}/v1/chat/completions",
            model=ENDPOINT,
            authorization=f"Bearer {token}",
            server_pid=self.service.pid,
        )

    def after_run(self, target: Target, completed: int) -> dict[str, object]:
        """Outcome rows once the writer caught up (or went quiet), and after SIGTERM's flush.
        Rows may exceed `completed` by the requests in flight when each wrk run stopped: the
        gateway served them, but wrk closed the connection before counting the response."""
        running = self._count_when_settled(completed)
        assert self.service is not None
        status = self.service.stop()
        final = self._count_outcomes()
        return {
            "requests_completed": completed,
            "outcome_rows_while_running": running,
            "outcome_rows": final,
            "gateway_exit_status": status,
            "every_outcome_recorded": final >= completed,
        }

    def _count_when_settled(self, completed: int, quiet: float = 3.0, limit: float = 30.0) -> int:
        deadline, last, since = time.monotonic() + limit, -1, time.monotonic()
        while True:
            rows = self._count_outcomes()
            if rows != last:
                last, since = rows, time.monotonic()
            now = time.monotonic()
            if rows >= completed or now - since >= quiet or now >= deadline:
                return rows
            time.sleep(0.2)

    def _count_outcomes(self) -> int:
        engine = create_engine(self.database_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM outcomes")).scalar_one())
        finally:
            engine.dispose()

    def _create_database(self, stack: ExitStack) -> str:
        name = f"modelops_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except SQLAlchemyError as exc:
            admin.dispose()
            where = make_url(self.server).render_as_string(hide_password=True)
            cause = getattr(exc, "orig", exc)  # the driver's message, without SQLAlchemy's SQL
            raise BenchmarkError(f"cannot create a database on {where}: {cause}") from None
        url = make_url(self.server).set(database=name).render_as_string(hide_password=False)
        if self.keep:
            say(f"keeping the database afterwards: {name}")
            admin.dispose()
            return url

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        stack.callback(drop)
        return url


def _wait_ready(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BenchmarkError(f"{url} did not answer 200 within {timeout:.0f} s")

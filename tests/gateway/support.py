"""A real gateway on 127.0.0.1 for tests: in-process uvicorn in a thread (or a
`modelops gateway` subprocess), and a world of teams, models, endpoints and tokens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.app import create_app
from modelops.settings import Settings
from registry.database import Database, make_engine
from registry.domain import Team
from registry.endpoints import (
    NewEndpoint,
    RouteChange,
    WeightedVersion,
    create_endpoint,
    set_routes,
)
from registry.keys import KeyRepository, MasterKeyring
from registry.lifecycle import NewVersion, register_version
from registry.outcomes import Outcome
from registry.outcomes.tables import OutcomeRow
from registry.tables import ModelRow, ProviderRow
from registry.teams import TeamRepository
from registry.tokens import Scope, TokenRepository

ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = "v1:" + "A" * 43  # 32 zero bytes in urlsafe base64: a fixed key for tests
FAKE_KEY = "sk-test-gateway-0001"


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `condition` until it is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.01)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class Recorded:
    """Every outcome the gateway's writer acknowledged, as it was handed over (a tap)."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def __call__(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def get(self, request_id: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.request_id == request_id), None)


def stored_outcomes(database_url: str) -> dict[str, OutcomeRow]:
    """The outcome rows in the database, by request id."""
    engine = make_engine(database_url, pool=False)
    try:
        with Session(engine) as session:
            return {row.request_id: row for row in session.scalars(select(OutcomeRow))}
    finally:
        engine.dispose()


@contextmanager
def running_gateway(
    settings: Settings | Callable[[str], Settings], tap: Recorded | None = None
) -> Iterator[str]:
    """The gateway app served by uvicorn in a background thread; yields its base URL.
    `settings` may be built from that URL (a gateway that is its own public URL)."""
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        create_app(settings(url) if callable(settings) else settings, outcome_tap=tap),
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), 30, "the gateway started")
        assert server.started, "the gateway failed to start"
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextmanager
def gateway_process(env: dict[str, str]) -> Iterator[GatewayProcess]:
    """`modelops gateway` as a real subprocess on a free port; stopped with SIGTERM."""
    with free_socket() as sock:
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "modelops.cli", "gateway", "--port", str(port)]
    process = subprocess.Popen(
        command,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url) or process.poll() is not None, 60, f"gateway on {port}")
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        yield GatewayProcess(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class GatewayProcess:
    url: str
    process: subprocess.Popen[bytes]

    def __str__(self) -> str:
        return self.url


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class World:
    """Two teams. A: chat endpoint `assistant` (openai → the fake, 2 versions, 50/50),
    classification endpoint `intent` (local), text-to-image endpoint `paint`. B: chat
    endpoint `b-chat`."""

    url: str
    data_dir: Path
    token: str  # team A, every scope
    invoke_token: str  # team A, invoke only
    b_token: str  # team B, every scope
    b_token_id: int
    token_id: int
    team: Team
    b_team: Team


def build_world(database_url: str, openai_base_url: str, data_dir: Path, local_model: str) -> World:
    database = Database.open(database_url)
    try:
        with database.transaction() as session:
            return _seed(session, database_url, openai_base_url, data_dir, local_model)
    finally:
        database.close()


def _seed(
    session: Session, url: str, openai_base_url: str, data_dir: Path, local_model: str
) -> World:
    local = _provider(session, "local", "local", None)
    openai = _provider(session, "openai", "openai", openai_base_url)
    team_a, team_b = (
        TeamRepository(session).ensure("team-a"),
        TeamRepository(session).ensure("team-b"),
    )
    ring = MasterKeyring.from_setting(Settings(master_key=MASTER_KEY).master_key)
    for team in (team_a, team_b):
        KeyRepository(session, team, ring).add("openai", "main", FAKE_KEY)
    _model(session, team_a, "chatbot", openai, "chat", ["gpt-fake-1", "gpt-fake-2"])
    _model(session, team_a, "support-intent", local, "classification", [local_model])
    _model(session, team_b, "b-bot", openai, "chat", ["gpt-fake-b"])
    _model(session, team_a, "painter", local, "text-to-image", ["no-such-painter"])
    create_endpoint(session, team_a, _new("assistant", "chatbot", version=1))
    split = [WeightedVersion(version=1, weight=50), WeightedVersion(version=2, weight=50)]
    change = RouteChange(endpoint="assistant", routes=split, actor="tester", reason="a/b")
    set_routes(session, team_a, change)
    create_endpoint(session, team_a, _new("intent", "support-intent", version=1))
    create_endpoint(session, team_b, _new("b-chat", "b-bot", version=1))
    create_endpoint(session, team_a, _new("paint", "painter", version=1))
    every = list(Scope)
    a = TokenRepository(session, team_a).create("all", every)
    a_invoke = TokenRepository(session, team_a).create("invoke", [Scope.INVOKE])
    b = TokenRepository(session, team_b).create("all", every)
    return World(
        url=url,
        data_dir=data_dir,
        token=a.token.get_secret_value(),
        invoke_token=a_invoke.token.get_secret_value(),
        b_token=b.token.get_secret_value(),
        b_token_id=b.details.id,
        token_id=a.details.id,
        team=team_a,
        b_team=team_b,
    )


def _new(name: str, model: str, version: int) -> NewEndpoint:
    return NewEndpoint(
        name=name, model=model, environment="development", version=version, actor="tester"
    )


def _provider(session: Session, name: str, kind: str, base_url: str | None) -> ProviderRow:
    row = session.scalar(select(ProviderRow).where(ProviderRow.name == name))
    if row is None:
        row = ProviderRow(
            name=name, kind=kind, base_url=base_url, options={}, source_file=f"{name}.yaml"
        )
        session.add(row)
        session.flush()
    return row


def _model(
    session: Session, team: Team, name: str, provider: ProviderRow, category: str, ids: list[str]
) -> None:
    session.add(
        ModelRow(
            team_id=team.id,
            name=name,
            provider_id=provider.id,
            base_model=ids[0],
            category=category,
            description="",
            cost={"input_per_1k": 1.0, "output_per_1k": 2.0},
            policy={},
            rollout={},
            source_file=f"models/{name}.yaml",
        )
    )
    session.flush()
    for provider_model_id in ids:
        register_version(
            session, team, NewVersion(model=name, provider_model_id=provider_model_id, actor="t")
        )


def settings_for(world: World) -> Settings:
    return Settings(
        database_url=world.url, data_dir=world.data_dir, master_key=MASTER_KEY, team="team-a"
    )

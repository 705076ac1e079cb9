"""Keyed calls against real PostgreSQL and the fake OpenAI server, on clocks tests move by hand."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import JsonValue
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from adapters.chat import ChatMessage, ChatRequest, ChatResponse, Role
from adapters.registry import chat_adapter
from dispatch.key_pool_view import KeyPoolView
from dispatch.keyed_call import Attempt, CallPolicy, KeyedResult
from dispatch.providers import ProviderHandle, open_provider
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.keys import CooldownPolicy, KeyPool, ModelCooldown, ProviderKey
from registry.tables import ProviderRow
from registry.teams import TeamRepository
from tests.fakes.openai_server import FakeOpenAIServer
from tests.registry.test_keys_support import RING_1, T0, ring

MODEL = "gpt-test"
# Not shaped like an OpenAI key, so only redaction of the call's own secret can hide them.
SECRET_A = "plainsecretAAAAAAAAAAAA1111"
SECRET_B = "plainsecretBBBBBBBBBBBB2222"
SECRET_C = "sk-proj-CCCCCCCCCCCCCCCC3333"


@dataclass
class FakeTime:
    """The call's monotonic clock and the pool's UTC clock, moved only by `sleep`/`advance`,
    so a wait is proven exact and no test ever sleeps for real."""

    wall: datetime = T0
    mono: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.mono

    def now(self) -> datetime:
        return self.wall

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)

    def policy(self, budget_seconds: float = 60.0) -> CallPolicy:
        return CallPolicy(
            budget_seconds=budget_seconds,
            sleep=self.sleep,
            clock=self.clock,
            now=self.now,
            rng=random.Random(7),
            cooldowns=CooldownPolicy(uniform=lambda: 1.0),  # no-Retry-After cooldown = its cap
        )


@dataclass
class World:
    """One team's pool for the `openai` provider, which points at the fake server.

    `keys_from` says where handles get their keys: "database" (a transaction per step) or
    "view" (a KeyPoolView opened with each handle; closing it writes the batched usage).
    """

    engine: Engine
    sessions: sessionmaker[Session]
    team: Team
    server: FakeOpenAIServer
    time: FakeTime
    data_dir: Path
    keys_from: str = "database"

    def add_key(self, label: str, secret: str, priority: int = 0) -> int:
        with self.sessions.begin() as session:
            return self.pool(session).add("openai", label, secret, priority).id

    def pool(self, session: Session) -> KeyPool:
        return KeyPool(session, self.team, ring(RING_1), clock=self.time.now)

    def key(self, key_id: int) -> ProviderKey:
        with self.sessions.begin() as session:
            return self.pool(session).get(key_id)

    def model_cooldown(self, model: str = MODEL) -> ModelCooldown | None:
        with self.sessions.begin() as session:
            return self.pool(session).model_cooldown("openai", model)

    @asynccontextmanager
    async def provider(self, policy: CallPolicy | None = None) -> AsyncIterator[ProviderHandle]:
        async with AsyncExitStack() as stack:
            view = None
            if self.keys_from == "view":
                view = await stack.enter_async_context(KeyPoolView(self.engine, ring(RING_1)))
            handle = await stack.enter_async_context(
                open_provider(
                    self.sessions,
                    self.team,
                    "openai",
                    keyring=ring(RING_1),
                    data_dir=self.data_dir,
                    policy=policy or self.time.policy(),
                    pool_view=view,
                )
            )
            yield handle

    async def chat(
        self,
        policy: CallPolicy | None = None,
        attempts: list[Attempt] | None = None,
        model: str | None = MODEL,
    ) -> KeyedResult[ChatResponse]:
        request = ChatRequest(model=MODEL, messages=[ChatMessage(role=Role.USER, content="hi")])
        async with self.provider(policy) as handle:
            chat = chat_adapter(handle.adapter)
            return await handle.call(
                lambda credential: chat.chat(credential, request), model=model, attempts=attempts
            )


def seed_openai(
    sessions: sessionmaker[Session], base_url: str, options: dict[str, JsonValue]
) -> None:
    with sessions.begin() as session:
        session.add(
            ProviderRow(
                name="openai",
                kind="openai",
                base_url=base_url,
                options=options,
                source_file="providers/openai.yaml",
            )
        )


def make_world(
    pg_url: str,
    server: FakeOpenAIServer,
    tmp_path: Path,
    keys_from: str = "database",
    **options: JsonValue,
) -> Iterator[World]:
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    seed_openai(sessions, server.base_url, dict(options))
    with sessions.begin() as session:
        team = TeamRepository(session).ensure("alpha")
    yield World(engine, sessions, team, server, FakeTime(), tmp_path, keys_from)
    engine.dispose()


# Every keyed-call behaviour holds whether keys come from the database or from a view.
KEY_SOURCES = ["database", "view"]


@pytest.fixture(params=KEY_SOURCES)
def world(
    request: pytest.FixtureRequest, pg_url: str, openai_server: FakeOpenAIServer, tmp_path: Path
) -> Iterator[World]:
    yield from make_world(pg_url, openai_server, tmp_path, request.param)


@pytest.fixture(params=KEY_SOURCES)
def impatient_world(
    request: pytest.FixtureRequest, pg_url: str, openai_server: FakeOpenAIServer, tmp_path: Path
) -> Iterator[World]:
    """The adapter gives up on a silent server after 0.3 s (a real timeout, on a real socket)."""
    yield from make_world(pg_url, openai_server, tmp_path, request.param, timeout_seconds=0.3)

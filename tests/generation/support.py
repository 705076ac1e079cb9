"""A team with an endpoint per generation category on real PostgreSQL, its providers the fakes on real
sockets, and the job services on a clock tests move by hand (no test sleeps)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import JsonValue
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dispatch.generation.handles import ProviderHandles
from dispatch.generation.runtime import JobsRuntime
from dispatch.keyed_call import CallPolicy
from gateway.jobs_service import JobServices
from gateway.webhooks_service import WebhookReceipt, receive_webhook
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.endpoints import NewEndpoint, create_endpoint
from registry.endpoints.domain import Environment
from registry.generation.domain import GenerationJobRecord, JobTiming, WebhookEventRecord
from registry.generation.jobs import GenerationJobRepository
from registry.generation.secrets import WebhookSecretRepository
from registry.generation.webhook_events import events_of_provider
from registry.keys import KeyPool
from registry.lifecycle import NewVersion, register_version
from registry.orm import utcnow
from registry.outcomes.tables import OutcomeRow
from registry.tables import ModelRow, ProviderRow
from registry.teams import TeamRepository
from tests.fakes.openai_videos_server import PROJECT_SECRET, FakeOpenAIVideoServer
from tests.fakes.replicate_server import FakeReplicateServer, account_secret
from tests.fakes.webhook_receiver import Delivery, WebhookReceiver
from tests.registry.test_keys_support import RING_1, ring

RING = ring(RING_1)
REPLICATE_KEY = "r8_team_alpha_key_aaaaaaaa"
VIDEO_KEY = "sk-team-alpha-video-aaaaaa"
# name → (provider, category, provider model id of version 1)
MODELS = {
    "art": ("replicate", "text-to-image", "black-forest-labs/flux-schnell"),
    "music": ("replicate", "text-to-music", "meta/musicgen"),
    "voice": ("replicate", "text-to-speech", "jaaari/kokoro-82m"),
    "transcribe": ("replicate", "speech-to-text", "openai/whisper"),
    "edit": ("replicate", "image-to-image", "black-forest-labs/flux-kontext-pro"),
    "film": ("replicate", "text-to-video", "minimax/video-01"),
    "animate": ("replicate", "image-to-video", "wan-video/wan-2.2-i2v-fast"),
    "talk": ("replicate", "audio-to-video", "bytedance/omni-human"),
    "story": ("replicate", "storyboard-to-video", "owner/storyboard"),
    "clip": ("openai", "text-to-video", "sora-2"),
    "local-art": ("localmedia", "text-to-image", "local-image"),
    "local-song": ("localmedia", "text-to-music", "local-music"),
    "helpdesk": ("local", "classification", "tfidf-logreg"),
}


@dataclass
class Clock:
    """The jobs' clock: moved by hand, so a deadline is reached without waiting for it."""

    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class JobsWorld:
    engine: Engine
    sessions: sessionmaker[Session]
    team: Team
    runtime: JobsRuntime
    services: JobServices
    clock: Clock
    data_dir: Path
    replicate: FakeReplicateServer
    videos: FakeOpenAIVideoServer
    hooks: WebhookReceiver
    keys: dict[str, int] = field(default_factory=dict)

    def add_key(self, provider: str, label: str, secret: str, priority: int = 0) -> int:
        with self.sessions.begin() as session:
            key_id = KeyPool(session, self.team, RING).add(provider, label, secret, priority).id
        self.keys[label] = key_id
        return key_id

    def add_provider_secret(
        self, provider: str, label: str, secret: str, team: Team | None = None
    ) -> int:
        with self.sessions.begin() as session:
            repo = WebhookSecretRepository(session, team or self.team, RING)
            return repo.add_provider_secret(provider, label, secret).id

    def job(self, public_id: str) -> GenerationJobRecord:
        with self.sessions.begin() as session:
            return GenerationJobRepository(session, self.team).get(public_id)

    def events(self, provider: str) -> list[WebhookEventRecord]:
        with self.sessions.begin() as session:
            return events_of_provider(session, provider)

    def outcomes(self) -> list[OutcomeRow]:
        with self.sessions.begin() as session:
            rows = list(session.scalars(select(OutcomeRow).order_by(OutcomeRow.at)))
            session.expunge_all()
            return rows

    async def create(
        self, endpoint: str, body: dict[str, Any], key: str | None = None
    ) -> dict[str, JsonValue]:
        answer = await self.services.create(self.team, endpoint, body, idempotency_key=key)
        return answer.body

    async def deliver(self, delivery: Delivery, provider: str) -> WebhookReceipt:
        """Hand a webhook the fake POSTed to the receiver to the gateway's service."""
        return await receive_webhook(
            self.runtime, provider, delivery.headers, delivery.body, delivery.query
        )


def seed_world(
    sessions: sessionmaker[Session], replicate: str, videos: str, team_name: str = "alpha"
) -> Team:
    with sessions.begin() as session:
        team = TeamRepository(session).ensure(team_name)
        providers = {
            "replicate": ("replicate", replicate, {}),
            "openai": ("openai", videos, {}),
            "localmedia": ("localmedia", None, {"render_seconds": 30}),
            "local": ("local", None, {}),
        }
        ids = {}
        for name, (kind, base_url, options) in providers.items():
            row = session.scalar(select(ProviderRow).where(ProviderRow.name == name))
            if row is None:
                row = ProviderRow(
                    name=name,
                    kind=kind,
                    base_url=base_url,
                    options=options,
                    source_file=f"providers/{name}.yaml",
                )
                session.add(row)
                session.flush()
            ids[name] = row.id
        for model, (provider, category, base) in MODELS.items():
            session.add(
                ModelRow(
                    team_id=team.id,
                    name=model,
                    provider_id=ids[provider],
                    base_model=base,
                    category=category,
                    description="",
                    cost={},
                    policy={},
                    rollout={},
                    source_file=f"models/{model}.yaml",
                )
            )
            session.flush()
            register_version(
                session, team, NewVersion(model=model, provider_model_id=base, actor="tester")
            )
            create_endpoint(
                session,
                team,
                NewEndpoint(
                    name=f"{model}-dev",
                    model=model,
                    environment=Environment.DEVELOPMENT,
                    actor="tester",
                ),
            )
    return team


async def open_world(
    pg_url: str,
    replicate: FakeReplicateServer,
    videos: FakeOpenAIVideoServer,
    hooks: WebhookReceiver,
    data_dir: Path,
) -> AsyncIterator[JobsWorld]:
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    team = seed_world(sessions, replicate.base_url, videos.base_url)
    clock = Clock()
    async with httpx.AsyncClient() as client:
        policy = CallPolicy(budget_seconds=15, attempt_timeout_seconds=10)
        handles = ProviderHandles(sessions, RING, client, data_dir, policy)
        runtime = JobsRuntime(
            sessions,
            handles,
            RING,
            data_dir,
            public_url=f"{hooks.url}/hooks",
            timing=JobTiming(),
            http=client,
            clock=clock,
            call_timeout_seconds=5,
        )
        world = JobsWorld(
            engine,
            sessions,
            team,
            runtime,
            JobServices(runtime),
            clock,
            data_dir,
            replicate,
            videos,
            hooks,
        )
        world.add_key("replicate", "a", REPLICATE_KEY)
        world.add_key("openai", "video-a", VIDEO_KEY)
        world.add_provider_secret("replicate", "account-a", account_secret(REPLICATE_KEY))
        world.add_provider_secret("openai", "project", PROJECT_SECRET)
        with sessions.begin() as session:
            WebhookSecretRepository(session, team, RING).new_callback_secret("default")
        yield world
    engine.dispose()


def callback_secret_of(world: JobsWorld) -> list[str]:
    with world.sessions.begin() as session:
        found = WebhookSecretRepository(session, world.team, RING).callback_secrets(
            0, now=world.clock()
        )
        return [s.get_secret_value() for s in found]


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def body_of(delivery: Delivery) -> dict[str, Any]:
    return dict(json.loads(delivery.body))


ROOT = Path(__file__).resolve().parents[2]


def child_env() -> dict[str, str]:
    """The environment of a child Python process that imports this checkout first."""
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}

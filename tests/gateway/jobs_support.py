"""The real gateway (`create_app`, uvicorn on 127.0.0.1) serving generation jobs: the world of
tests/generation (a team with an endpoint per category on PostgreSQL, the fake providers on
real sockets), API tokens for it and for another team, and the gateway as its own public
URL, so the fakes' webhooks reach `POST /v1/webhooks/{provider}` over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from adapters.localmedia.adapter import LocalMediaAdapter
from adapters.registry import create_adapter
from modelops.settings import Settings
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.generation.domain import GenerationJobRecord
from registry.generation.jobs import GenerationJobRepository
from registry.generation.secrets import WebhookSecretRepository
from registry.keys import KeyPool
from registry.tables import ProviderRow
from registry.teams import TeamRepository
from registry.tokens import Scope, TokenRepository
from tests.fakes.openai_videos_server import PROJECT_SECRET, FakeOpenAIVideoServer
from tests.fakes.replicate_server import FakeReplicateServer, account_secret
from tests.gateway.support import running_gateway
from tests.generation.support import REPLICATE_KEY, RING, VIDEO_KEY, seed_world
from tests.registry.test_keys_support import RING_1

LOCAL_RENDER_SECONDS = 0.5  # the local provider renders this long after a create


@dataclass
class JobsGateway:
    url: str
    sessions: sessionmaker[Session]
    team: Team
    token: str  # team alpha, scope invoke
    other_token: str  # team beta, every scope
    data_dir: Path
    replicate: FakeReplicateServer
    videos: FakeOpenAIVideoServer

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def invoke(self, endpoint: str, body: Any, **headers: str) -> httpx.Response:
        with self.client() as client:
            return client.post(f"/v1/endpoints/{endpoint}/invoke", json=body, headers=headers)

    def job(self, public_id: str) -> GenerationJobRecord:
        with self.sessions.begin() as session:
            return GenerationJobRepository(session, self.team).get(public_id)


def open_jobs_gateway(
    pg_url: str,
    replicate: FakeReplicateServer,
    videos: FakeOpenAIVideoServer,
    data_dir: Path,
) -> Iterator[JobsGateway]:
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    team = seed_world(sessions, replicate.base_url, videos.base_url)
    with sessions.begin() as session:
        session.execute(
            update(ProviderRow)
            .where(ProviderRow.name == "localmedia")
            .values(options={"render_seconds": LOCAL_RENDER_SECONDS})
        )
        pool = KeyPool(session, team, RING)
        pool.add("replicate", "a", REPLICATE_KEY)
        pool.add("openai", "video-a", VIDEO_KEY)
        secrets = WebhookSecretRepository(session, team, RING)
        secrets.add_provider_secret("replicate", "account-a", account_secret(REPLICATE_KEY))
        secrets.add_provider_secret("openai", "project", PROJECT_SECRET)
        secrets.add_provider_secret("localmedia", "local", _local_secret(data_dir))
        secrets.new_callback_secret("default")
        token = TokenRepository(session, team).create("jobs", [Scope.INVOKE]).token
        beta = TeamRepository(session).ensure("beta")
        other = TokenRepository(session, beta).create("all", list(Scope)).token

    def settings(url: str) -> Settings:
        return Settings(
            database_url=pg_url,
            data_dir=data_dir,
            master_key=SecretStr(RING_1),
            team="alpha",
            public_url=url,
        )

    try:
        with running_gateway(settings) as url:
            videos.webhook_url = f"{url}/v1/webhooks/openai"
            yield JobsGateway(
                url,
                sessions,
                team,
                token.get_secret_value(),
                other.get_secret_value(),
                data_dir,
                replicate,
                videos,
            )
    finally:
        engine.dispose()


def _local_secret(data_dir: Path) -> str:
    adapter = create_adapter("localmedia", data_dir=data_dir)
    assert isinstance(adapter, LocalMediaAdapter)
    return adapter.signing_secret().get_secret_value()

"""Generation jobs end to end: services over real PostgreSQL and the fake providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.openai_videos_server import FakeOpenAIVideoServer
from tests.fakes.replicate_server import FakeReplicateServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.generation.support import JobsWorld, open_world


@pytest.fixture
async def world(
    pg_url: str,
    replicate_server: FakeReplicateServer,
    openai_videos: FakeOpenAIVideoServer,
    hooks: WebhookReceiver,
    tmp_path: Path,
) -> AsyncIterator[JobsWorld]:
    async for opened in open_world(pg_url, replicate_server, openai_videos, hooks, tmp_path):
        yield opened

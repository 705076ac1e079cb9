"""The demo's generation step over the real gateway's HTTP: the shipped catalog plus the
demo's model, synced; the job created by invoke, its signed webhook delivered by the local provider and
verified, the PNG fetched and checked against its sha256."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from pydantic import SecretStr

from modelops import demo_jobs
from modelops.settings import Settings
from registry.catalog import load_catalog
from registry.catalog_sync import apply_sync, plan_sync
from registry.database import make_engine, make_session_factory
from registry.teams import TeamRepository
from registry.tokens import Scope, TokenRepository
from tests.gateway.support import running_gateway
from tests.generation.support import RING
from tests.registry.test_catalog_support import copy_example_catalog
from tests.registry.test_keys_support import RING_1

pytestmark = pytest.mark.anyio


async def test_the_demo_makes_a_job_hears_its_webhook_and_fetches_the_image(
    pg_url: str, tmp_path: Path
) -> None:
    catalog = copy_example_catalog(tmp_path / "catalog")
    for name, text in demo_jobs.catalog_files().items():
        (catalog / name).write_text(text)
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        apply_sync(session, plan_sync(session, load_catalog(catalog)))
        team = TeamRepository(session).ensure("default")
        token = TokenRepository(session, team).create("demo", [Scope.INVOKE]).token
    data_dir = tmp_path / "data"
    endpoint = demo_jobs.prepare(sessions, team, RING, data_dir)
    lines: list[str] = []

    def settings(url: str) -> Settings:  # the gateway is its own public URL: webhooks reach it
        return Settings(
            database_url=pg_url, data_dir=data_dir, master_key=SecretStr(RING_1), public_url=url
        )

    with running_gateway(settings) as url:
        report = await demo_jobs.run(
            url, token.get_secret_value(), sessions, team, tmp_path, say=lines.append
        )
    engine.dispose()
    assert (endpoint, report.status, report.states[0], report.states[-1]) == (
        demo_jobs.ENDPOINT,
        "completed",
        "pending",
        "completed",
    )
    assert report.webhook is not None and " accepted (signature verified)" in report.webhook
    assert report.saved is not None
    image = Image.open(io.BytesIO(report.saved.read_bytes()))
    assert (image.format, image.size) == ("PNG", (320, 180))
    assert any("HTTP 202" in line for line in lines)
    assert any("(checked)" in line for line in lines)

"""The demo's generation-job step: an image made by the local media provider (a real PNG,
ready a few seconds later), announced by its signed webhook, fetched over the gateway.

`catalog_files()` are the provider and model to add to the demo's catalog; after the sync,
`prepare` registers version 1, a development endpoint and the provider's webhook secret;
`run` then drives the gateway's HTTP API like a client: invoke → 202 → the job until it
ends → its content, checked against its sha256.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from adapters.localmedia.adapter import LocalMediaAdapter
from adapters.registry import create_adapter
from registry.domain import Team
from registry.endpoints import EndpointRepository, NewEndpoint, create_endpoint
from registry.endpoints.domain import Environment
from registry.errors import NotFoundError
from registry.generation.jobs import GenerationJobRepository
from registry.generation.secrets import WebhookSecretRepository
from registry.generation.webhook_events import events_of_job
from registry.keys import MasterKeyring
from registry.lifecycle import NewVersion, register_version
from registry.model_repository import ModelRepository

PROVIDER = "localmedia"
MODEL = "demo-art"
ENDPOINT = "demo-art-dev"
RENDER_SECONDS = 3
PROMPT = "A lighthouse at dawn, in the colours of the sea"


def catalog_files() -> dict[str, str]:
    """`catalog/` files (path → YAML) for the demo's generation model and its provider."""
    return {
        f"providers/{PROVIDER}.yaml": (
            f"# Renders PNG and WAV files on this machine, {RENDER_SECONDS} s after a request,\n"
            "# then POSTs a signed webhook: a real asynchronous provider, with no key.\n"
            f"name: {PROVIDER}\nkind: localmedia\noptions: {{render_seconds: {RENDER_SECONDS}}}\n"
        ),
        f"models/{MODEL}.yaml": (
            f"name: {MODEL}\nteam: default\nprovider: {PROVIDER}\nbase_model: local-image\n"
            "category: text-to-image\ndescription: Pictures for the demo, drawn locally\n"
        ),
    }


def prepare(
    sessions: sessionmaker[Session], team: Team, keyring: MasterKeyring, data_dir: Path
) -> str:
    """Version 1 of the model, a development endpoint on it, and the provider's signing secret
    registered for the team (as one registers an account's secret); the endpoint's name."""
    secret = _provider_secret(data_dir)
    with sessions.begin() as session:
        if not ModelRepository(session, team).versions(MODEL):
            register_version(
                session,
                team,
                NewVersion(model=MODEL, provider_model_id="local-image", actor="demo"),
            )
        try:
            EndpointRepository(session, team).get(ENDPOINT)
        except NotFoundError:
            new = NewEndpoint(
                name=ENDPOINT, model=MODEL, environment=Environment.DEVELOPMENT, actor="demo"
            )
            create_endpoint(session, team, new)
        secrets = WebhookSecretRepository(session, team, keyring)
        if not any(info.scope == PROVIDER for info in secrets.list()):
            secrets.add_provider_secret(PROVIDER, "local", secret)
    return ENDPOINT


@dataclass(frozen=True)
class DemoJobReport:
    job_id: str
    status: str
    states: list[str]  # the job's states as the client saw them, in order
    webhook: str | None  # the verdict of the provider's webhook, if one came
    saved: Path | None
    sha256: str | None


async def run(
    gateway_url: str,
    token: str,
    sessions: sessionmaker[Session],
    team: Team,
    out_dir: Path,
    *,
    say: Callable[[str], None] = print,
    endpoint: str = ENDPOINT,
    timeout_seconds: float = 60.0,
) -> DemoJobReport:
    """One job end to end through the gateway's HTTP API, narrated with `say`."""
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=gateway_url, headers=headers, timeout=30) as client:
        created = await client.post(
            f"/v1/endpoints/{endpoint}/invoke",
            json={"prompt": PROMPT, "aspect_ratio": "16:9"},
            headers={"Idempotency-Key": "demo-art-1"},
        )
        created.raise_for_status()
        job = created.json()
        say(f"   invoke {endpoint}: HTTP {created.status_code}, job {job['id']} {job['status']}")
        states = [job["status"]]
        job = await _until_ended(client, job, states, say, timeout_seconds)
    webhook = _webhook_verdict(sessions, team, job["id"])
    say(
        f"   the provider's webhook: {webhook}"
        if webhook
        else "   no webhook came: the poller (or this client's reads) settled the job"
    )
    job_id, status = str(job["id"]), str(job["status"])
    if status != "completed":
        say(f"   the job ended {status}: {job.get('error')}")
        return DemoJobReport(job_id, status, states, webhook, None, None)
    saved, digest = await _fetch(gateway_url, headers, job, out_dir, say)
    return DemoJobReport(job_id, status, states, webhook, saved, digest)


async def _until_ended(
    client: httpx.AsyncClient,
    job: dict[str, object],
    states: list[str],
    say: Callable[[str], None],
    timeout_seconds: float,
) -> dict[str, object]:
    """Read the job as a client would until it ends (every half second, bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    while job["status"] not in {"completed", "failed", "cancelled"}:
        if loop.time() > deadline:
            raise TimeoutError(f"job {job['id']} did not end within {timeout_seconds:g}s")
        await asyncio.sleep(0.5)
        answer = await client.get(f"/v1/jobs/{job['id']}")
        answer.raise_for_status()
        job = answer.json()
        if job["status"] != states[-1]:
            states.append(str(job["status"]))
            say(f"   GET /v1/jobs/{job['id']}: {job['status']}")
    return job


async def _fetch(
    gateway_url: str,
    headers: dict[str, str],
    job: dict[str, object],
    out_dir: Path,
    say: Callable[[str], None],
) -> tuple[Path, str]:
    result = job["result"]
    assert isinstance(result, dict)
    [asset] = result["assets"]
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        url = str(asset["url"])
        content = (await client.get(url if "://" in url else f"{gateway_url}{url}")).content
    digest = hashlib.sha256(content).hexdigest()
    if digest != asset["sha256"]:
        raise ValueError(f"the content's sha256 {digest} is not the job's {asset['sha256']}")
    saved = out_dir / f"{job['id']}.png"
    saved.write_bytes(content)
    width, height = Image.open(io.BytesIO(content)).size
    say(
        f"   result: {asset['content_type']}, {len(content)} bytes, {width}x{height}, "
        f"sha256 {digest[:12]} (checked), saved to {saved}"
    )
    return saved, digest


def _webhook_verdict(sessions: sessionmaker[Session], team: Team, job_id: object) -> str | None:
    with sessions.begin() as session:
        job = GenerationJobRepository(session, team).get(str(job_id))
        events = events_of_job(session, job.id)
    if not events:
        return None
    first = events[0]
    changed = ", ".join(f"{k} {v}" for k, v in first.changes.items()) or "nothing new"
    return f"{first.webhook_id} {first.verdict.value} (signature verified), changed {changed}"


def _provider_secret(data_dir: Path) -> str:
    adapter = create_adapter(PROVIDER, data_dir=data_dir)
    assert isinstance(adapter, LocalMediaAdapter)
    return adapter.signing_secret().get_secret_value()


__all__ = ["ENDPOINT", "MODEL", "PROVIDER", "DemoJobReport", "catalog_files", "prepare", "run"]

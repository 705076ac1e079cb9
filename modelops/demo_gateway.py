"""The demo's traffic: the gateway served in-process (uvicorn in a thread, the embedded
SQLite database), an endpoint for the model, classified tickets through invoke and the
official `openai` client through chat completions, and what each version served."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import uvicorn

from gateway.app import create_app
from modelops.cli.output import say_markup
from modelops.runtime import Runtime
from modelops.settings import Settings
from registry.endpoints import EndpointRepository, NewEndpoint, create_endpoint
from registry.model_repository import ModelRepository
from registry.orm import utcnow
from registry.outcomes import window_stats
from registry.tokens import Scope, TokenRepository

TICKETS = Path("examples/support_tickets/eval.jsonl")
INVOKED = 300  # tickets sent through invoke before the rollback
AFTER_ROLLBACK = 100
CHATS = 20  # chat completions through the openai client


@dataclass
class DemoGateway:
    url: str
    token: str
    endpoint: str
    started: datetime


@contextmanager
def demo_gateway(rt: Runtime, model: str) -> Iterator[DemoGateway]:
    """The gateway on a free port of 127.0.0.1 with an endpoint for `model` and a token."""
    with rt.transaction() as session:
        team = rt.require_team(session)
        create_endpoint(session, team, NewEndpoint(name=model, model=model, actor="demo"))
        token = TokenRepository(session, team).create("demo", [Scope.INVOKE]).token
    # The embedded database sends no NOTIFY: re-read often so the rollback is seen at once.
    settings = rt.settings.model_copy(update={"gateway_refresh_seconds": 0.25})
    with serving(settings) as url:
        yield DemoGateway(url, token.get_secret_value(), model, utcnow())


@contextmanager
def serving(settings: Settings | Callable[[str], Settings]) -> Iterator[str]:
    """Until it exits, which stores every outcome still in the writer's spool. `settings`
    may be built from the gateway's own URL (to be its public URL, for webhooks)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(settings(url) if callable(settings) else settings)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("demo: the gateway did not start")
            time.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def show_dashboard(rt: Runtime, *, serve: bool, step: str) -> None:
    """With `serve`: the gateway again, its dashboard's address and a token to sign in with,
    until Ctrl-C. Without: how to get there."""
    if not serve:
        say_markup(
            f"{step} the dashboard: `modelops demo --serve` keeps the gateway up, shows its /ui"
        )
        return
    with rt.transaction() as session:
        team = rt.require_team(session)
        token = TokenRepository(session, team).create("dashboard", [Scope.INVOKE]).token
    with serving(rt.settings) as url:
        say_markup(
            f"{step} dashboard: {url}/ui/ (sign in with the demo's token below; Ctrl-C stops it)"
        )
        say_markup(f"   {token.get_secret_value()}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            say_markup("   gateway stopped")


def tickets() -> list[tuple[str, str]]:
    """(ticket text, the intent a person gave it) from the shipped evaluation set."""
    pairs = []
    for line in TICKETS.read_text().splitlines():
        messages = json.loads(line)["messages"]
        text = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        pairs.append((text, messages[-1]["content"]))
    return pairs


def invoke_tickets(gw: DemoGateway, batch: list[tuple[str, str]]) -> tuple[int, int]:
    """Send tickets through `/v1/endpoints/…/invoke`; (answered right, versions seen)."""
    right = 0
    versions = set()
    headers = {"authorization": f"Bearer {gw.token}"}
    with httpx.Client(base_url=gw.url, headers=headers) as client:
        for i, (text, label) in enumerate(batch):
            response = client.post(
                f"/v1/endpoints/{gw.endpoint}/invoke", json={"text": text, "user": f"customer-{i}"}
            )
            response.raise_for_status()
            right += response.json()["label"] == label
            versions.add(response.headers["x-modelops-version"])
    return right, len(versions)


def chat_tickets(gw: DemoGateway, batch: list[tuple[str, str]]) -> list[str]:
    """The official openai client, pointed at the gateway: each answer is the intent."""
    import openai  # the client applications use; imported only for this step

    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.token, max_retries=0)
    answers = []
    for text, _ in batch:
        completion = client.chat.completions.create(
            model=gw.endpoint, messages=[{"role": "user", "content": text}]
        )
        answers.append(completion.choices[0].message.content or "")
    return answers


def wait_for_version(gw: DemoGateway, version: int, timeout: float = 10.0) -> None:
    """Until the endpoint answers from `version` (the gateway re-reads its routes)."""
    deadline = time.monotonic() + timeout
    headers = {"authorization": f"Bearer {gw.token}"}
    while time.monotonic() < deadline:
        response = httpx.post(
            f"{gw.url}/v1/endpoints/{gw.endpoint}/invoke", json={"text": "hi"}, headers=headers
        )
        if response.headers.get("x-modelops-version") == str(version):
            return
        time.sleep(0.05)
    raise TimeoutError(f"demo: the endpoint did not move to v{version}")


def report(rt: Runtime, gw: DemoGateway) -> None:
    """Requests, error rate and p95 latency per version, from the per-minute rollups of the
    outcomes the gateway recorded (the gateway has stopped, so every outcome is stored)."""
    with rt.transaction() as session:
        team = rt.require_team(session)
        endpoint = EndpointRepository(session, team).get(gw.endpoint)
        numbers = {v.id: v.version for v in ModelRepository(session, team).versions(endpoint.model)}
        since = gw.started.replace(second=0, microsecond=0)  # rollups are whole minutes
        until = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=1)
        stats = window_stats(session, team, endpoint.id, since, until)
    say_markup("   version  requests  error rate  p95 latency (from the rollups)")
    for version_id, window in sorted(stats.items(), key=lambda item: numbers[item[0]]):
        p95 = window.latency_histogram.quantile(0.95)
        shown = "-" if p95 is None else f"{p95.estimate_ms:.2f} ms"
        errors = window.errors.successes / window.requests
        version = f"v{numbers[version_id]}"
        say_markup(f"   {version:>7}  {window.requests:>8}  {errors:>10.1%}  {shown:>11}")

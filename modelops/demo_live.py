"""The demo's steps on a live gateway (uvicorn on 127.0.0.1, the embedded database, its own
public URL so providers' webhooks reach it): an error burst that fires one alert and
resolves it (modelops.demo_alerts), an A/B test of the challenger against production on
clients' reported outcomes (modelops.demo_abtest), and a generation job made, announced by
its signed webhook and fetched (modelops.demo_jobs). Each step is one call from the demo."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from modelops import demo_abtest, demo_alerts, demo_jobs
from modelops.abtest_traffic import GatewayTraffic
from modelops.cli.output import say_markup
from modelops.demo_gateway import serving, tickets
from modelops.runtime import Runtime
from registry.domain import Team
from registry.endpoints import (
    EndpointChange,
    EndpointRepository,
    NewEndpoint,
    create_endpoint,
    undeploy_endpoint,
)
from registry.keys.crypto import MasterKeyring
from registry.outcomes.tables import OutcomeRow
from registry.tokens import Scope, TokenRepository

MODEL = "support-intent"
PROD_ENDPOINT = "support-intent-prod"
BURST_OK, BURST_FAILED = 60, 40  # the error burst: 40% of 100 requests fail
# The A/B clients' success rates: the challenger (b) is better by 5 points.
SUCCESS_A, SUCCESS_B = 0.90, 0.95


@dataclass
class LiveGateway:
    url: str
    token: str  # scopes invoke, resolve, outcomes
    rt: Runtime
    team: Team

    @property
    def ring(self) -> MasterKeyring:
        return MasterKeyring.from_setting(self.rt.settings.master_key)


def prepare_catalog(demo_dir: Path) -> None:
    """The demo's catalog: the shipped one (MODELOPS_CATALOG_DIR, else ./catalog) copied under
    the demo's directory, with the generation model and its local provider added."""
    source = Path(os.environ.get("MODELOPS_CATALOG_DIR") or "catalog")
    catalog = demo_dir / "catalog"
    shutil.copytree(source, catalog)
    for name, text in demo_jobs.catalog_files().items():
        (catalog / name).write_text(text)
    os.environ["MODELOPS_CATALOG_DIR"] = str(catalog)


@contextmanager
def live_gateway(rt: Runtime) -> Iterator[LiveGateway]:
    with rt.transaction() as session:
        team = rt.require_team(session)
        scopes = [Scope.INVOKE, Scope.RESOLVE, Scope.OUTCOMES]
        token = TokenRepository(session, team).create("demo-live", scopes).token
    # The embedded database sends no NOTIFY: re-read routes often so the A/B split is seen.
    update = {"gateway_refresh_seconds": 0.25}
    with serving(lambda url: rt.settings.model_copy(update={**update, "public_url": url})) as url:
        yield LiveGateway(url, token.get_secret_value(), rt, team)


def alert_burst(live: LiveGateway, *, step: str) -> demo_alerts.AlertsDemo:
    """A client bug through the gateway: 60 tickets classified, 40 chat requests without a
    user message (the model refuses them, HTTP 400), all on the production endpoint."""
    with live.rt.transaction() as session:
        new = NewEndpoint(name=PROD_ENDPOINT, model=MODEL, actor="demo", reason="demo: alerts")
        create_endpoint(session, live.team, new)
    say_markup(
        f"{step} alerts: the catalog's error-rate rule (critical above 5% over 5m, for 2m, "
        f"at least 20 requests); {BURST_OK + BURST_FAILED} requests through the gateway on "
        f"{PROD_ENDPOINT}, {BURST_FAILED} of them refused (a client bug: no user message)"
    )
    demo = demo_alerts.run(
        lambda endpoint: _burst(live, endpoint),
        sessions=live.rt.sessions,
        team=live.team,
        ring=live.ring,
        endpoint=PROD_ENDPOINT,
        say=say_markup,
    )
    alert = demo.alert
    say_markup(
        f"   alert #{alert.id} {alert.rule} fired at {alert.fired_at:%H:%M} and resolved at "
        f"{alert.resolved_at:%H:%M} (the demo evaluates the coming minutes' windows back to "
        f"back instead of waiting for the scheduled monitor); {len(demo.received)} "
        f"notifications received and verified, {len(demo.refused)} refused"
    )
    return demo


def _burst(live: LiveGateway, endpoint: str) -> None:
    headers = {"authorization": f"Bearer {live.token}"}
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=live.url, headers=headers, timeout=30) as client:
        for text, _ in tickets()[:BURST_OK]:
            answer = client.post(f"/v1/endpoints/{endpoint}/invoke", json={"text": text})
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        for _ in range(BURST_FAILED):
            body = {"model": endpoint, "messages": [{"role": "system", "content": "Classify."}]}
            answer = client.post("/v1/chat/completions", json=body)
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
    shown = ", ".join(f"{count} x HTTP {status}" for status, count in sorted(statuses.items()))
    say_markup(f"   the gateway answered {shown}")
    _until_stored(live, endpoint, BURST_OK + BURST_FAILED)


def _until_stored(live: LiveGateway, endpoint: str, count: int, timeout: float = 60) -> None:
    """Until the gateway's outcome writer has stored `count` outcomes of the endpoint."""
    with live.rt.transaction() as session:
        endpoint_id = EndpointRepository(session, live.team).get(endpoint).id
    query = select(func.count()).where(OutcomeRow.endpoint_id == endpoint_id)
    deadline = time.monotonic() + timeout
    while True:
        with live.rt.transaction() as session:
            if (session.scalar(query) or 0) >= count:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo: the gateway did not store {count} outcomes of {endpoint}")
        time.sleep(0.05)  # the writer flushes on its own interval


def ab_test(live: LiveGateway, *, step: str) -> None:
    """The challenger against production, on clients that resolve the endpoint through the
    gateway (its sticky split) and report their outcomes; b succeeds 5 points more often."""
    with live.rt.transaction() as session:
        a, b = demo_abtest.variants(session, live.team)
    traffic = GatewayTraffic(
        live.url,
        live.token,
        live.rt.sessions,
        live.team,
        success={a: SUCCESS_A, b: SUCCESS_B},
        seed=11,
    )
    test = demo_abtest.run(traffic, live.rt.sessions, live.team, step=step)
    served = ", ".join(f"v{v} {n}" for v, n in sorted(traffic.sent.items()))
    say_markup(
        f"   through the gateway: {sum(traffic.sent.values())} requests resolved ({served}; "
        f"the first {2 * demo_abtest.BATCH} before the test, all on v{a}), each outcome "
        f"reported by its client (success drawn at v{a} {SUCCESS_A:.0%}, v{b} "
        f"{SUCCESS_B:.0%}); test #{test.id} is {test.status}"
    )
    with live.rt.transaction() as session:  # the test's endpoint has done its job
        change = EndpointChange(
            endpoint=demo_abtest.ENDPOINT, actor="demo", reason="demo: the A/B test is over"
        )
        undeploy_endpoint(session, live.team, change)
    say_markup(
        f"   {demo_abtest.ENDPOINT} undeployed now that the test is over "
        "(its routes stay on record)"
    )


def generation_job(live: LiveGateway, *, step: str) -> demo_jobs.DemoJobReport:
    rt = live.rt
    endpoint = demo_jobs.prepare(rt.sessions, live.team, live.ring, rt.settings.data_dir)
    say_markup(
        f"{step} generation job: {demo_jobs.MODEL} (text-to-image) on the local media provider, "
        f"which renders a PNG {demo_jobs.RENDER_SECONDS} s after a request and POSTs a signed "
        f"webhook to {live.url}/v1/webhooks/{demo_jobs.PROVIDER}"
    )
    out_dir = rt.settings.data_dir / "jobs"
    out_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(
        demo_jobs.run(live.url, live.token, rt.sessions, live.team, out_dir, say=say_markup,
                      endpoint=endpoint)
    )  # fmt: skip


__all__ = [
    "LiveGateway",
    "ab_test",
    "alert_burst",
    "generation_job",
    "live_gateway",
    "prepare_catalog",
]

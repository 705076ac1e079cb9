"""`create_app(settings)`: the gateway's routes, and a lifespan that opens everything with
a lifetime (database engine, HTTP client, caches and their LISTEN task, the outcome sink,
the shadow workers, the generation-job services) and closes it in reverse order. Nothing is
built at import."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import orjson
import prometheus_client
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dispatch.generation.handles import ProviderHandles
from dispatch.generation.runtime import JobsRuntime
from dispatch.key_pool_view import KeyPoolView
from dispatch.keyed_call import CallPolicy
from gateway import api_jobs, api_report, api_serve
from gateway.budget_guard import BudgetGuard
from gateway.coherence import Coherence
from gateway.dashboard.pages import dashboard_mount
from gateway.errors import JSON, error_response
from gateway.handler import Endpoint
from gateway.jobs_service import JobServices
from gateway.metrics import GatewayMetrics, Gauges
from gateway.outcome_sink import OutcomeSink, OutcomeTap
from gateway.outcome_writer import OutcomeWriter, WriterState
from gateway.routes import RouteCache
from gateway.shadow import ShadowQueue
from gateway.state import Gateway
from gateway.tokens import TokenCache
from gateway.upstream_transport import AiohttpTransport, LeanClient
from gateway.upstreams import Upstreams
from modelops.settings import Settings
from registry.database import make_engine, make_session_factory
from registry.keys import MasterKeyring
from registry.schema import ensure_current

log = logging.getLogger("gateway")
READY_PING_SECONDS = 2.0


def create_app(settings: Settings, *, outcome_tap: OutcomeTap | None = None) -> Starlette:
    """The gateway app; `outcome_tap` sees every outcome the writer acknowledged (tests)."""
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # noise
    routes = [
        Route(
            "/v1/chat/completions", Endpoint("chat", api_serve.chat_completions), methods=["POST"]
        ),
        Route("/v1/models", Endpoint("models", api_serve.list_models), methods=["GET"]),
        Route(
            "/v1/endpoints/{endpoint}/invoke",
            Endpoint("invoke", api_serve.invoke),
            methods=["POST"],
        ),
        Route(
            "/v1/endpoints/{endpoint}/resolve",
            Endpoint("resolve", api_report.resolve),
            methods=["GET"],
        ),
        Route("/v1/jobs/{job}", Endpoint("job", api_jobs.get_job), methods=["GET"]),
        Route(
            "/v1/jobs/{job}/cancel", Endpoint("job_cancel", api_jobs.cancel_job), methods=["POST"]
        ),
        Route(
            "/v1/jobs/{job}/content/{index:int}",
            Endpoint("job_content", api_jobs.job_content),
            methods=["GET"],
        ),
        Route(
            "/v1/webhooks/{provider}",
            Endpoint("webhook", api_jobs.provider_webhook),
            methods=["POST"],
        ),
        Route("/v1/outcomes", Endpoint("outcomes", api_report.report_outcomes), methods=["POST"]),
        Route("/v1/feedback", Endpoint("feedback", api_report.feedback), methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        dashboard_mount(os.environ),  # the read-only dashboard at /ui
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.gateway = await _open(settings, stack, outcome_tap)
            yield
            app.state.gateway.closing = True

    return GatewayApp(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )


class GatewayApp(Starlette):
    """Starlette, except that a request for one of the routes in `DIRECT` (exact path, no
    parameters) goes straight to its `Endpoint`: Starlette's error and exception middleware
    and its router cost as much as a tenth of a request's CPU, and the Endpoint already
    turns every error into an answer. Everything else, lifespan included, is Starlette's."""

    DIRECT = (("POST", "/v1/chat/completions"),)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.direct: dict[tuple[str, str], ASGIApp] = {}
        for route in self.router.routes:
            if isinstance(route, Route) and isinstance(route.app, Endpoint):
                for method in route.methods or ():
                    if (method, route.path) in self.DIRECT:
                        self.direct[(method, route.path)] = route.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.direct.get((scope["method"], scope["path"]))
            if endpoint is not None:
                scope["app"] = self  # what `request.app` reads
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def _open(settings: Settings, stack: AsyncExitStack, tap: OutcomeTap | None) -> Gateway:
    """Open in dependency order; the stack closes in reverse (shadows and caches first, the
    outcome writer after them, flushing what is left, the engine last)."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    stack.callback(engine.dispose)
    await asyncio.to_thread(ensure_current, engine)
    sessions = make_session_factory(engine)
    writer = OutcomeWriter.from_settings(settings)
    await asyncio.to_thread(writer.start)
    stack.push_async_callback(asyncio.to_thread, writer.close)
    client = await stack.enter_async_context(
        LeanClient(AiohttpTransport(), timeout=httpx.Timeout(60.0))
    )
    keyring = MasterKeyring.from_setting(settings.master_key) if settings.master_key else None
    upstreams = await _open_upstreams(settings, stack, engine, sessions, client, keyring)
    routes, tokens = RouteCache(sessions), TokenCache(sessions)
    coherence = Coherence(
        routes, tokens, settings.resolved_database_url, settings.gateway_refresh_seconds
    )
    shadows = ShadowQueue(settings.gateway_shadow_queue, lambda: meters.shadow_dropped.inc())
    meters = GatewayMetrics(
        Gauges(
            sink=writer.status,
            shadow_depth=shadows.depth,
            cache_sizes=lambda: {"routes": len(routes), "tokens": len(tokens)},
            key_states=upstreams.key_states,
        )
    )
    sink: OutcomeSink = writer
    gateway = Gateway(
        settings, sessions, routes, tokens, coherence, upstreams, sink, meters, shadows, tap,
        jobs=_job_services(settings, sessions, keyring, client),
    )  # fmt: skip
    await coherence.start()
    stack.push_async_callback(coherence.close)
    gateway.budgets = BudgetGuard(sessions, settings.gateway_refresh_seconds)
    await gateway.budgets.start()
    stack.push_async_callback(gateway.budgets.close)
    shadows.start()
    stack.push_async_callback(shadows.close)
    return gateway


async def _open_upstreams(
    settings: Settings,
    stack: AsyncExitStack,
    engine: Engine,
    sessions: sessionmaker[Session],
    client: httpx.AsyncClient,
    keyring: MasterKeyring | None,
) -> Upstreams:
    """The upstream leg on the one HTTP client, with the in-process key pool view."""
    pool_view = await stack.enter_async_context(KeyPoolView(engine, keyring))
    policy = _call_policy(settings)
    return Upstreams(sessions, keyring, client, settings.data_dir, policy, pool_view)


def _job_services(
    settings: Settings,
    sessions: sessionmaker[Session],
    keyring: MasterKeyring | None,
    client: httpx.AsyncClient,
) -> JobServices:
    """Generation jobs on the same client: provider calls, and the callback notices sent to
    clients. Providers reach the webhook route at `settings.public_url` (none: poll only)."""
    handles = ProviderHandles(sessions, keyring, client, settings.data_dir, _call_policy(settings))
    runtime = JobsRuntime(
        sessions,
        handles,
        keyring,
        settings.data_dir,
        public_url=settings.public_url or None,
        http=client,
    )
    return JobServices(runtime)


def _call_policy(settings: Settings) -> CallPolicy:
    """Dispatch's policy, with the gateway's budget when one is set (attempts fit inside)."""
    default = CallPolicy()
    budget = settings.gateway_call_budget_seconds
    if budget is None:
        return default
    return CallPolicy(
        budget_seconds=budget, attempt_timeout_seconds=min(default.attempt_timeout_seconds, budget)
    )


# -- operational routes -------------------------------------------------------------------


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type=JSON)


async def readyz(request: Request) -> Response:
    """Ready: caches loaded, outcomes recordable (not spool-full), and the database
    reachable, or outcomes spooling while it is away."""
    gw: Gateway = request.app.state.gateway
    outcomes = gw.sink.status()
    database = await _ping(gw)
    checks = {
        "caches_loaded": gw.routes.loaded,
        "database": database,
        "outcomes": outcomes.state.value,  # running | degraded (spooling) | spool_full | closed
        "outcome_backlog": outcomes.backlog,
        "closing": gw.closing,
    }
    # While the database is away, outcomes wait in the spool: still ready, until it fills.
    spooling = outcomes.state is WriterState.DEGRADED or outcomes.ready
    ready = gw.routes.loaded and not gw.closing and outcomes.ready and (database or spooling)
    body = orjson.dumps({"status": "ready" if ready else "not_ready", "checks": checks})
    return Response(body, 200 if ready else 503, media_type=JSON)


async def _ping(gw: Gateway) -> bool:
    def ping() -> None:
        with gw.sessions() as session:
            session.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(asyncio.to_thread(ping), READY_PING_SECONDS)
    except Exception:
        return False
    return True


async def metrics(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    body = gw.metrics.render()  # from memory, on the loop (where what it reads changes)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        message = f"no route {request.url.path!r}; see the gateway's API in the README"
        return error_response(404, message, "not_found_error", code="unknown_route")
    if exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path!r}"
        return error_response(405, message, "invalid_request_error", code="method_not_allowed")
    return error_response(exc.status_code, str(exc.detail), "invalid_request_error")

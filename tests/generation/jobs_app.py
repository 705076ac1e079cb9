"""The job services mounted as HTTP routes on a real 127.0.0.1 socket, as the gateway mounts
them: a few lines per route. Auth is a fixed token → team map (the gateway has API tokens).

    with JobsApp(pg_url, data_dir, {"tok": "alpha"}) as app:
        httpx.post(f"{app.url}/v1/endpoints/art-dev/invoke", json=..., headers=...)
"""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from adapters.errors import ProviderError
from dispatch.generation.callbacks import deliver_due
from dispatch.generation.handles import ProviderHandles
from dispatch.generation.runtime import JobsRuntime
from dispatch.keyed_call import CallFailedError
from gateway.jobs_requests import JobServiceError
from gateway.jobs_service import IDEMPOTENCY_HEADER, JobServices
from gateway.webhooks_service import receive_webhook
from registry.database import make_engine, make_session_factory
from registry.domain import Team
from registry.routing import ROUTING_KEY_HEADER
from registry.teams import TeamRepository
from tests.fakes.server import FakeServer, Fault
from tests.generation.support import RING


class JobsApp(FakeServer):
    def __init__(self, pg_url: str, data_dir: Path, tokens: dict[str, str]) -> None:
        super().__init__()
        self._engine = make_engine(pg_url)
        self._sessions = make_session_factory(self._engine)
        self._data_dir = data_dir
        self._tokens = tokens
        self._services: JobServices | None = None

    def stop(self) -> None:
        super().stop()
        self._engine.dispose()

    def routes(self) -> list[Route]:
        return [
            Route("/v1/endpoints/{endpoint}/invoke", self._invoke, methods=["POST"]),
            Route("/v1/jobs/{job}", self._get, methods=["GET"]),
            Route("/v1/jobs/{job}/cancel", self._cancel, methods=["POST"]),
            Route("/v1/jobs/{job}/content/{index:int}", self._content, methods=["GET"]),
            Route("/v1/webhooks/{provider}", self._webhook, methods=["POST"]),
        ]

    def render_fault(self, fault: Fault, key: str | None) -> Response:
        return JSONResponse({"error": fault.message}, fault.status or 500)

    def services(self) -> JobServices:
        """Built on first use, in the server's own event loop (its HTTP client lives there)."""
        if self._services is None:
            client = httpx.AsyncClient()
            handles = ProviderHandles(self._sessions, RING, client, self._data_dir)
            runtime = JobsRuntime(
                self._sessions, handles, RING, self._data_dir, public_url=self.url, http=client
            )
            self._services = JobServices(runtime)
        return self._services

    async def _invoke(self, request: Request) -> Response:
        async def answer(team: Team) -> Response:
            result = await self.services().create(
                team,
                request.path_params["endpoint"],
                await request.json(),
                idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
                routing_key=request.headers.get(ROUTING_KEY_HEADER),
            )
            return JSONResponse(result.body, result.status_code, result.headers)

        return await self._guarded(request, answer)

    async def _get(self, request: Request) -> Response:
        async def answer(team: Team) -> Response:
            result = await self.services().get(team, request.path_params["job"])
            return JSONResponse(result.body, result.status_code)

        return await self._guarded(request, answer)

    async def _cancel(self, request: Request) -> Response:
        async def answer(team: Team) -> Response:
            result = await self.services().cancel(team, request.path_params["job"])
            return JSONResponse(result.body, result.status_code)

        return await self._guarded(request, answer)

    async def _content(self, request: Request) -> Response:
        async def answer(team: Team) -> Response:
            stored = await self.services().content(
                team, request.path_params["job"], request.path_params["index"]
            )
            return FileResponse(stored.path, media_type=stored.content_type)

        return await self._guarded(request, answer)

    async def _webhook(self, request: Request) -> Response:
        runtime = self.services().runtime
        receipt = await receive_webhook(
            runtime,
            request.path_params["provider"],
            dict(request.headers),
            await request.body(),
            dict(request.query_params),
        )
        task = BackgroundTask(deliver_due, runtime) if receipt.callback_due else None
        return JSONResponse(receipt.body, receipt.status_code, background=task)

    async def _guarded(self, request: Request, answer: object) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        name = self._tokens.get(token)
        if name is None:
            return _error(401, "unknown token", None, "invalid_api_key")
        with self._sessions.begin() as session:
            team = TeamRepository(session).ensure(name)
        try:
            return await answer(team)  # type: ignore[operator, no-any-return]
        except JobServiceError as exc:
            return _error(exc.status, exc.message, exc.param, exc.code, exc.type)
        except ProviderError as exc:
            return _error(502, str(exc), None, "upstream_error", "upstream_error")
        except CallFailedError as exc:
            return _error(503, exc.summary, None, "no_usable_key", "upstream_error")


def _error(
    status: int, message: str, param: str | None, code: str, kind: str = "invalid_request_error"
) -> Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status)

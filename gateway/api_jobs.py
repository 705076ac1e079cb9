"""Generation jobs over HTTP: `POST /v1/endpoints/{e}/invoke` for an async category (202 with
the job), `GET /v1/jobs/{id}`, `POST /v1/jobs/{id}/cancel`, `GET /v1/jobs/{id}/content/{n}`,
and the providers' `POST /v1/webhooks/{provider}`. The work is the job services'
(gateway.jobs_service, gateway.webhooks_service); this module reads the request, maps their
errors to the gateway's one error shape, and answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from pydantic import JsonValue
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from adapters.errors import ProviderError
from dispatch.generation.callbacks import deliver_due
from dispatch.keyed_call import CallFailedError
from gateway.errors import JSON, ApiError, from_call_failure, from_provider_error
from gateway.handler import Context
from gateway.jobs_requests import JobServiceError
from gateway.jobs_service import IDEMPOTENCY_HEADER, JobAnswer, JobServices
from gateway.webhooks_service import MAX_WEBHOOK_BYTES, receive_webhook
from registry.routing import ROUTING_KEY_HEADER
from registry.tokens import Scope, TokenPrincipal

T = TypeVar("T")


async def create_job(
    request: Request, ctx: Context, principal: TokenPrincipal, body: object
) -> Response:
    """invoke's answer for an endpoint of a generation category (the body is parsed)."""
    jobs = _services(ctx)
    answer = await _mapped(
        lambda: jobs.create(
            principal.team,
            request.path_params["endpoint"],
            body,
            idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
            routing_key=request.headers.get(ROUTING_KEY_HEADER),
        )
    )
    _label(ctx, answer)
    return _json(answer)


async def get_job(request: Request, ctx: Context) -> Response:
    principal = await ctx.gateway.principal(request, Scope.INVOKE)
    jobs = _services(ctx)
    answer = await _mapped(lambda: jobs.get(principal.team, request.path_params["job"]))
    return _json(answer)


async def cancel_job(request: Request, ctx: Context) -> Response:
    principal = await ctx.gateway.principal(request, Scope.INVOKE)
    jobs = _services(ctx)
    answer = await _mapped(lambda: jobs.cancel(principal.team, request.path_params["job"]))
    return _json(answer)


async def job_content(request: Request, ctx: Context) -> Response:
    principal = await ctx.gateway.principal(request, Scope.INVOKE)
    jobs = _services(ctx)
    job, index = request.path_params["job"], request.path_params["index"]
    stored = await _mapped(lambda: jobs.content(principal.team, job, index))
    headers = {"x-modelops-sha256": stored.sha256}
    return FileResponse(stored.path, media_type=stored.content_type, headers=headers)


async def provider_webhook(request: Request, ctx: Context) -> Response:
    """Unauthenticated by token: the provider's signature is the proof, checked against the
    secrets every team registered for that provider. Every delivery is stored."""
    jobs = _services(ctx)
    body = await _bounded_body(request, MAX_WEBHOOK_BYTES)
    receipt = await receive_webhook(
        jobs.runtime,
        request.path_params["provider"],
        dict(request.headers),
        body,
        dict(request.query_params),
    )
    # A job that ended with a callback owed: the notice goes out after the answer.
    task = BackgroundTask(deliver_due, jobs.runtime) if receipt.callback_due else None
    return Response(
        orjson.dumps(receipt.body), receipt.status_code, media_type=JSON, background=task
    )


def _services(ctx: Context) -> JobServices:
    jobs = ctx.gateway.jobs
    if jobs is None:  # built by the lifespan: only a gateway that is closing lacks it
        raise ApiError(503, "generation jobs are not available", type="upstream_error")
    return jobs


async def _mapped(call: Callable[[], Awaitable[T]]) -> T:
    """The services' refusals and the providers' faults, as the gateway's errors."""
    try:
        return await call()
    except JobServiceError as exc:
        raise ApiError(
            exc.status, exc.message, type=exc.type, param=exc.param, code=exc.code
        ) from None
    except ProviderError as exc:
        raise from_provider_error(exc) from None
    except CallFailedError as exc:
        raise from_call_failure(exc) from None


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The raw body, read no further than one byte past `limit` (the service refuses it,
    storing that it did)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)


def _label(ctx: Context, answer: JobAnswer) -> None:
    version = answer.body.get("version")
    endpoint = answer.body.get("endpoint")
    if isinstance(version, int) and isinstance(endpoint, str):
        ctx.label(endpoint, version)


def _json(answer: JobAnswer) -> Response:
    body: dict[str, JsonValue] = answer.body
    return Response(orjson.dumps(body), answer.status_code, answer.headers, media_type=JSON)

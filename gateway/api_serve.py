"""`POST /v1/chat/completions`, `POST /v1/endpoints/{e}/invoke` (classification here; the
generation categories as jobs, gateway.api_jobs), `GET /v1/models`."""

from __future__ import annotations

import time

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from adapters.base import Credential
from adapters.categories import GENERATION
from adapters.chat import ChatResponse, ClassificationRequest, ClassificationResponse
from adapters.openai.compat import completion_to_openai
from adapters.streaming import ChatStream
from gateway import api_jobs, openai_shape
from gateway.errors import JSON, ApiError, invalid
from gateway.handler import Context
from gateway.openai_shape import ChatCall
from gateway.serve import Routed, Usage, call_version, mirror, route
from gateway.state import Gateway, new_request_id
from gateway.streams import relay
from registry.domain import Team
from registry.routing import PREVIEW_HEADER, ROUTING_KEY_HEADER
from registry.tokens import Scope

INVOKE_CATEGORIES = ("classification",)
MAX_TEXT_CHARS = 100_000


async def chat_completions(request: Request, ctx: Context) -> Response:
    started = time.perf_counter()
    gw = ctx.gateway
    principal = await gw.principal(request, Scope.INVOKE)
    call = openai_shape.read_chat(await gw.json_body(request))
    table, model = await gw.endpoint(principal, call.endpoint)
    openai_shape.check_chat_category(model.category, call.endpoint)
    await gw.within_budget(principal.team, model)
    header = request.headers.get(ROUTING_KEY_HEADER)
    preview = request.headers.get(PREVIEW_HEADER)
    routed = route(table, model, header, call.user, new_request_id(), preview)
    ctx.label(call.endpoint, routed.version)
    team = principal.team
    if call.stream:
        return await _stream(gw, team, routed, call, ctx, started)
    _, adapter = gw.upstreams.chat(team, model)

    async def send(credential: Credential, provider_model_id: str) -> ChatResponse:
        return await adapter.chat(credential, call.for_version(provider_model_id))

    answer = await call_version(gw, team, routed, send, _chat_usage, started=started)
    mirror(gw, team, routed, send, _chat_usage)
    if answer.raw is not None:  # the provider speaks OpenAI: its JSON, under the endpoint's name
        body = orjson.dumps({**answer.raw, "model": call.endpoint})
    else:
        created = int(time.time())
        body = orjson.dumps(completion_to_openai(answer, model=call.endpoint, created=created))
    return Response(body, headers=routed.headers, media_type=JSON)


async def _stream(
    gw: Gateway, team: Team, routed: Routed, call: ChatCall, ctx: Context, started: float
) -> Response:
    """Open the stream through the pool (failover until the first chunk), then relay it."""
    _, adapter = gw.upstreams.chat_stream(team, routed.model)

    async def open_stream(credential: Credential, provider_model_id: str) -> ChatStream:
        return await adapter.open_chat_stream(credential, call.for_version(provider_model_id))

    stream = await call_version(gw, team, routed, open_stream, None, started=started)
    _, chatter = gw.upstreams.chat(team, routed.model)

    async def send(credential: Credential, provider_model_id: str) -> ChatResponse:
        return await chatter.chat(credential, call.whole_for_version(provider_model_id))

    mirror(gw, team, routed, send, _chat_usage)  # shadows answer whole: nobody reads them
    ctx.streaming = True
    chunks = relay(gw, team, routed, stream, include_usage=call.include_usage, started=started)
    return StreamingResponse(chunks, headers=routed.headers, media_type="text/event-stream")


async def invoke(request: Request, ctx: Context) -> Response:
    gw = ctx.gateway
    principal = await gw.principal(request, Scope.INVOKE)
    name = request.path_params["endpoint"]
    body = await gw.json_body(request)
    table, model = await gw.endpoint(principal, name)
    if model.category not in INVOKE_CATEGORIES and model.category not in GENERATION:
        raise _wrong_category(name, model.category)
    await gw.within_budget(principal.team, model)
    if model.category in GENERATION:  # async: 202 with a generation job
        return await api_jobs.create_job(request, ctx, principal, body)
    text, user = _classification_input(body)
    routed = route(table, model, request.headers.get(ROUTING_KEY_HEADER), user,
                   new_request_id(), request.headers.get(PREVIEW_HEADER))  # fmt: skip
    ctx.label(name, routed.version)
    _, adapter = gw.upstreams.classifier(principal.team, model)

    async def send(credential: Credential, provider_model_id: str) -> ClassificationResponse:
        return await adapter.classify(
            credential, ClassificationRequest(model=provider_model_id, text=text)
        )

    answer = await call_version(gw, principal.team, routed, send, _classification_usage)
    mirror(gw, principal.team, routed, send, _classification_usage)
    payload = {
        "object": "classification",
        "id": routed.request_id,
        "model": name,
        "version": routed.version,
        "label": answer.label,
        "probabilities": answer.probabilities,
        "usage": {
            "prompt_tokens": answer.usage.input_tokens,
            "completion_tokens": answer.usage.output_tokens,
            "total_tokens": answer.usage.input_tokens + answer.usage.output_tokens,
        },
    }
    return Response(orjson.dumps(payload), headers=routed.headers, media_type=JSON)


async def list_models(request: Request, ctx: Context) -> Response:
    gw = ctx.gateway
    principal = await gw.principal(request, Scope.INVOKE)
    data = [
        {
            "id": table.name,
            "object": "model",
            "created": 0,
            "owned_by": principal.team.name,
        }
        for table in gw.routes.team_tables(principal.team.id)
        if table.serving
    ]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type=JSON)


def _classification_input(body: object) -> tuple[str, str | None]:
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object with 'text'", None)
    unknown = sorted(set(body) - {"text", "user"})
    if unknown:
        raise invalid(
            f"{unknown[0]!r} is not a field of a classification request; fields: text, user",
            unknown[0],
            "unsupported_parameter",
        )
    text = body.get("text")
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT_CHARS:
        raise invalid(f"'text' must be a string of 1 to {MAX_TEXT_CHARS} characters", "text")
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or not 1 <= len(user) <= 256):
        raise invalid("'user' must be a string of 1 to 256 characters", "user")
    return text, user


def _wrong_category(name: str, category: str) -> ApiError:
    where = (
        "use POST /v1/chat/completions"
        if category == "chat"
        else f"invoke serves: {', '.join(INVOKE_CATEGORIES)} and the generation categories"
    )
    return ApiError(
        400,
        f"endpoint {name!r} serves {category!r}, which invoke does not take; {where}",
        param="model",
        code="wrong_category",
    )


def _chat_usage(answer: ChatResponse) -> Usage:
    if answer.usage is None:
        return Usage()
    return Usage(answer.usage.input_tokens, answer.usage.output_tokens)


def _classification_usage(answer: ClassificationResponse) -> Usage:
    return Usage(answer.usage.input_tokens, answer.usage.output_tokens)

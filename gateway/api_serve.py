"""`POST /v1/chat/completions`, `POST /v1/endpoints/{e}/invoke`, `GET /v1/models`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from adapters.base import Credential
from adapters.chat import ChatResponse, ClassificationRequest, ClassificationResponse
from gateway import openai_shape
from gateway.errors import JSON, ApiError, invalid
from gateway.handler import Context
from gateway.serve import Usage, call_version, mirror, route
from gateway.state import new_request_id
from registry.routing import ROUTING_KEY_HEADER
from registry.tokens import Scope

INVOKE_CATEGORIES = ("classification",)
MAX_TEXT_CHARS = 100_000


async def chat_completions(request: Request, ctx: Context) -> Response:
    gw = ctx.gateway
    principal = await gw.principal(request, Scope.INVOKE)
    call = openai_shape.read_chat(await gw.json_body(request))
    table, model = await gw.endpoint(principal, call.endpoint)
    openai_shape.check_chat_category(model.category, call.endpoint)
    routed = route(
        table, model, request.headers.get(ROUTING_KEY_HEADER), call.user, new_request_id()
    )
    ctx.label(call.endpoint, routed.version)
    _, adapter = gw.upstreams.chat(principal.team, model)

    async def send(credential: Credential, provider_model_id: str) -> ChatResponse:
        return await adapter.chat(credential, call.request(provider_model_id))

    answer = await call_version(gw, principal.team, routed, send, _chat_usage)
    mirror(gw, principal.team, routed, send, _chat_usage)
    if call.stream:
        chunks = openai_shape.chunks(answer, call.endpoint, call.include_usage)
        return StreamingResponse(
            _sse(chunks), headers=routed.headers, media_type="text/event-stream"
        )
    body = orjson.dumps(openai_shape.completion(answer, call.endpoint))
    return Response(body, headers=routed.headers, media_type=JSON)


async def invoke(request: Request, ctx: Context) -> Response:
    gw = ctx.gateway
    principal = await gw.principal(request, Scope.INVOKE)
    name = request.path_params["endpoint"]
    body = await gw.json_body(request)
    table, model = await gw.endpoint(principal, name)
    if model.category not in INVOKE_CATEGORIES:
        raise _wrong_category(name, model.category)
    text, user = _classification_input(body)
    routed = route(table, model, request.headers.get(ROUTING_KEY_HEADER), user, new_request_id())
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
        else f"invoke serves: {', '.join(INVOKE_CATEGORIES)}"
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


async def _sse(chunks: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"

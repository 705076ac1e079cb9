"""The one wrapper every route runs in: errors become OpenAI-shaped answers (never a
traceback), and each answer is counted and timed for /metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from adapters.errors import ConfigurationError
from gateway.errors import ApiError, error_response, from_configuration_error
from gateway.state import Gateway

log = logging.getLogger("gateway")


class Context:
    """What a handler tells the wrapper: which endpoint and version answered."""

    __slots__ = ("endpoint", "gateway", "streaming", "version")

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.endpoint = ""
        self.version = ""
        self.streaming = False  # the relay times the answer when its last byte is sent

    def label(self, endpoint: str, version: int) -> None:
        self.endpoint = endpoint
        self.version = str(version)


Handler = Callable[[Request, Context], Awaitable[Response]]


class Endpoint:
    """A route's ASGI app: one Request, the handler, its answer sent. An ASGI class rather
    than a function so Starlette adds no request/exception wrappers of its own (this one
    already turns every error into an answer)."""

    def __init__(self, name: str, handler: Handler) -> None:
        self.name = name
        self._handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(Request(scope, receive))
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        started = time.perf_counter()
        gw: Gateway = request.app.state.gateway
        ctx = Context(gw)
        name = self.name
        try:
            response = await self._handler(request, ctx)
        except ApiError as exc:
            response = exc.response()
            gw.metrics.error(name, exc.error_class)
        except ConfigurationError as exc:  # the catalog binds a model to a provider that lacks it
            error = from_configuration_error(exc)
            response = error.response()
            gw.metrics.error(name, error.error_class)
        except Exception as exc:  # a bug: say so without a traceback or its text
            log.error("%s failed: %s", name, type(exc).__name__)
            gw.metrics.error(name, "internal_error")
            response = error_response(
                500,
                "the gateway failed to answer; the error is logged",
                "server_error",
                code="internal_error",
            )
        gw.metrics.observe(
            name,
            ctx.endpoint,
            ctx.version,
            response.status_code,
            time.perf_counter() - started if ctx.endpoint and not ctx.streaming else None,
        )
        return response

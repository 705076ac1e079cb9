"""The `anthropic` adapter: chat through the Messages API."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, JsonValue

from adapters.anthropic import wire
from adapters.anthropic.events import AnthropicEventDecoder
from adapters.base import AdapterContext, Credential, StreamingOptions, validate_options
from adapters.categories import Category
from adapters.chat import ChatRequest, ChatResponse
from adapters.errors import BadRequestError
from adapters.http import Exchange, convert_wire, json_error_detail, parse_wire
from adapters.ratelimit import parse_rate_limit
from adapters.remote import RemoteCore
from adapters.streaming import ChatStream

__all__ = ["AnthropicAdapter", "AnthropicOptions"]


class AnthropicOptions(StreamingOptions):
    anthropic_version: str = "2023-06-01"
    # The Messages API requires max_tokens; this applies when a request leaves it out.
    default_max_tokens: int = Field(default=1024, ge=1)


class AnthropicAdapter:
    """Chat through POST {base_url}/v1/messages (base_url https://api.anthropic.com)."""

    kind: ClassVar[str] = "anthropic"
    categories: ClassVar[frozenset[Category]] = frozenset({Category.CHAT})

    def __init__(self, core: RemoteCore, options: AnthropicOptions) -> None:
        self._core = core
        self._options = options

    @classmethod
    def from_context(cls, context: AdapterContext) -> Self:
        base_url, client = RemoteCore.require(context, cls.kind)
        options = validate_options(AnthropicOptions, context.options, cls.kind)
        core = RemoteCore(
            provider=cls.kind,
            base_url=base_url.removesuffix("/v1"),  # as the SDK: host root, paths carry /v1
            client=client,
            default_timeout=options.timeout_seconds,
            error_detail=json_error_detail,
            auth_headers=lambda key: {"x-api-key": key},
            static_headers={"anthropic-version": options.anthropic_version},
        )
        return cls(core, options)

    async def chat(
        self, credential: Credential, request: ChatRequest, *, timeout: float | None = None
    ) -> ChatResponse:
        body = self._body(request, stream=False)
        reply = await self._core.call(
            credential, Exchange("POST", "/v1/messages", {}, json=body), timeout=timeout
        )
        parsed = parse_wire(wire.WireMessage, reply.body, provider=self.kind)
        return convert_wire(
            lambda w: wire.chat_from_wire(
                w,
                provider=self.kind,
                latency_ms=reply.latency_ms,
                rate_limit=parse_rate_limit(reply.headers),
            ),
            parsed,
            provider=self.kind,
        )

    async def open_chat_stream(
        self, credential: Credential, request: ChatRequest, *, timeout: float | None = None
    ) -> ChatStream:
        """`stream: true`; the named events are read into chunks (adapters/anthropic/events.py)."""
        return await self._core.stream_chat(
            credential,
            Exchange("POST", "/v1/messages", {}, json=self._body(request, stream=True)),
            AnthropicEventDecoder(self.kind),
            timeout=timeout,
            idle_timeout=self._options.stream_idle_timeout_seconds,
        )

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, JsonValue]:
        """The Messages body, or BadRequestError for what the API cannot say (nothing sent)."""
        reason = wire.unsupported_reason(request, self.kind)
        if reason is not None:
            raise BadRequestError(reason, provider=self.kind)
        return wire.chat_to_wire(request, self._options.default_max_tokens, stream=stream)

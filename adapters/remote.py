"""What every HTTP adapter shares: its client, base URL, auth header and the call through `send`."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import JsonValue

from adapters.base import AdapterContext, Credential
from adapters.call_rules import CONNECT_TIMEOUT_SECONDS
from adapters.errors import AuthenticationError, BadRequestError, ConfigurationError, ProtocolError
from adapters.generation import DownloadedContent
from adapters.http import (
    ErrorDetail,
    Exchange,
    is_header_safe,
    map_http_error,
    read_json,
    send,
    translate_transport_errors,
)
from adapters.ratelimit import RateLimitSnapshot, parse_rate_limit
from adapters.streaming import ChatStream, ChunkDecoder, ChunkSource, EventStreamSource

__all__ = ["RemoteCore", "Reply"]


@dataclass(frozen=True)
class Reply:
    """A successful call: the JSON body, the headers and the wall-clock latency."""

    body: JsonValue
    headers: httpx.Headers
    latency_ms: float


@dataclass(frozen=True)
class RemoteCore:
    """One provider endpoint as an adapter talks to it."""

    provider: str
    base_url: str
    client: httpx.AsyncClient
    default_timeout: float
    error_detail: Callable[[httpx.Response], ErrorDetail]
    auth_headers: Callable[[str], Mapping[str, str]]
    static_headers: Mapping[str, str]

    @staticmethod
    def require(context: AdapterContext, kind: str) -> tuple[str, httpx.AsyncClient]:
        """The base URL and client a remote adapter cannot work without."""
        if not context.base_url:
            raise ConfigurationError(f"provider kind {kind!r} needs a base_url")
        if context.http_client is None:
            raise ConfigurationError(f"provider kind {kind!r} needs an http_client")
        return context.base_url.rstrip("/"), context.http_client

    async def call(
        self,
        credential: Credential,
        exchange: Exchange,
        *,
        timeout: float | None = None,
    ) -> Reply:
        """Send one authenticated call; raise the taxonomy error or return the parsed reply."""
        secret = self._secret(credential)
        headers = {**self.static_headers, **self.auth_headers(secret), **exchange.headers}
        started = time.perf_counter()
        response = await send(
            self.client,
            Exchange(
                method=exchange.method,
                url=f"{self.base_url}{exchange.url}",
                headers=headers,
                json=exchange.json,
                params=exchange.params,
                files=exchange.files,
                data=exchange.data,
            ),
            provider=self.provider,
            timeout=self.default_timeout if timeout is None else timeout,
            error_detail=self.error_detail,
            secrets=(secret,),
        )
        latency_ms = (time.perf_counter() - started) * 1000.0
        return Reply(read_json(response, provider=self.provider), response.headers, latency_ms)

    async def download(
        self,
        credential: Credential,
        exchange: Exchange,
        destination: Path,
        *,
        max_bytes: int,
        timeout: float | None = None,
    ) -> DownloadedContent:
        """Stream a binary answer into `destination` (sha256 as it comes); an answer longer
        than `max_bytes` is a BadRequestError and leaves nothing behind."""
        secret = self._secret(credential)
        limit = self.default_timeout if timeout is None else timeout
        request = self.client.build_request(
            exchange.method,
            f"{self.base_url}{exchange.url}",
            headers={**self.static_headers, **self.auth_headers(secret), **exchange.headers},
            params=exchange.params,
            timeout=httpx.Timeout(limit, connect=min(limit, CONNECT_TIMEOUT_SECONDS)),
        )
        with translate_transport_errors(provider=self.provider):
            response = await self.client.send(request, stream=True)
        try:
            if not response.is_success:
                with translate_transport_errors(provider=self.provider):
                    await response.aread()
                raise map_http_error(
                    response,
                    provider=self.provider,
                    detail=self.error_detail(response),
                    secrets=(secret,),
                )
            return await self._write(response, destination, max_bytes)
        finally:
            await response.aclose()

    async def _write(
        self, response: httpx.Response, destination: Path, max_bytes: int
    ) -> DownloadedContent:
        digest, size = hashlib.sha256(), 0
        try:
            with destination.open("wb") as out, translate_transport_errors(provider=self.provider):
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise BadRequestError(
                            f"the output is larger than the {max_bytes}-byte limit",
                            provider=self.provider,
                        )
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        media_type = response.headers.get("content-type", "").partition(";")[0].strip()
        return DownloadedContent(
            content_type=media_type or "application/octet-stream",
            size_bytes=size,
            sha256=digest.hexdigest(),
        )

    async def stream_chat(
        self,
        credential: Credential,
        exchange: Exchange,
        decoder: ChunkDecoder,
        *,
        timeout: float | None,
        idle_timeout: float,
    ) -> ChatStream:
        """Open a chat whose answer is a server-sent-event stream, read through `decoder` up to
        its first chunk with output (see ChatStream.open for what raises when)."""
        limit = self.default_timeout if timeout is None else timeout

        async def connect() -> tuple[ChunkSource, RateLimitSnapshot | None]:
            response = await self._open_stream(credential, exchange, timeout=limit)
            source = EventStreamSource(response, decoder, provider=self.provider)
            return source, parse_rate_limit(response.headers)

        return await ChatStream.open(
            self.provider, connect, timeout=limit, idle_timeout=idle_timeout
        )

    async def _open_stream(
        self, credential: Credential, exchange: Exchange, *, timeout: float
    ) -> httpx.Response:
        """The open 2xx event-stream response (the caller closes it), or the taxonomy error
        with the error's body read first.

        `timeout` bounds sending and each pool wait, and connecting at most
        CONNECT_TIMEOUT_SECONDS of it (as `send`); reads are bounded by the stream's own
        deadlines (adapters/streaming.py), so none is set here.
        """
        secret = self._secret(credential)
        headers = {
            **self.static_headers,
            **self.auth_headers(secret),
            "Accept": "text/event-stream",
            **exchange.headers,
        }
        request = self.client.build_request(
            exchange.method,
            f"{self.base_url}{exchange.url}",
            headers=headers,
            json=exchange.json,
            timeout=httpx.Timeout(
                timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS), read=None
            ),
        )
        with translate_transport_errors(provider=self.provider):
            response = await self.client.send(request, stream=True)
        try:
            return await self._checked_stream(response, secret)
        except BaseException:
            await response.aclose()
            raise

    def _secret(self, credential: Credential) -> str:
        """The key for the auth header: the one place a call reads it (adapters/README.md)."""
        secret = credential.secret()
        if secret is None:
            raise AuthenticationError("the credential has no API key", provider=self.provider)
        if not is_header_safe(secret):  # httpx would fail to encode it, on every call
            raise AuthenticationError(
                "the stored key holds characters an HTTP header cannot carry (only printable "
                "ASCII without spaces is allowed); add the key again",
                provider=self.provider,
            )
        return secret

    async def _checked_stream(self, response: httpx.Response, secret: str) -> httpx.Response:
        if not response.is_success:
            with translate_transport_errors(provider=self.provider):
                await response.aread()
            raise map_http_error(
                response,
                provider=self.provider,
                detail=self.error_detail(response),
                secrets=(secret,),
            )
        media_type = response.headers.get("content-type", "").partition(";")[0].strip()
        if media_type != "text/event-stream":
            raise ProtocolError(
                f"expected a text/event-stream answer, got {media_type or 'no content type'!r}",
                provider=self.provider,
            )
        return response

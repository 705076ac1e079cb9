"""What every HTTP adapter shares: its client, base URL, auth header and the call through `send`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
from pydantic import JsonValue

from adapters.base import AdapterContext, Credential
from adapters.errors import AuthenticationError, ConfigurationError
from adapters.http import ErrorDetail, Exchange, is_header_safe, read_json, send

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
        secret = credential.secret()
        if secret is None:
            raise AuthenticationError("the credential has no API key", provider=self.provider)
        if not is_header_safe(secret):  # httpx would fail to encode it, on every call
            raise AuthenticationError(
                "the stored key holds characters an HTTP header cannot carry (only printable "
                "ASCII without spaces is allowed); add the key again",
                provider=self.provider,
            )
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

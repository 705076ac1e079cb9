"""The upstream leg's transport: httpx's interface (which the adapters speak) over aiohttp's
connection pool. Measured on loopback against a fast fake upstream, httpx's own pool spends
≈0.9 ms of CPU per request at 32 in flight (it scans every pooled connection per request);
through this transport the same client spends ≈0.2 ms, aiohttp alone ≈0.05 ms.

aiohttp's errors are raised as the httpx errors they mean, so the adapters' one mapping
(`adapters.http.translate_transport_errors`) still classifies every fault.

`LeanClient` is the httpx client the gateway hands the adapters: a plain call (a JSON body
or none, a whole answer) skips httpx's request building, cookie, auth and redirect layers
and aiohttp's client, which py-spy showed to cost half of a gateway request's CPU between
them (benchmarks/RESULTS.md), and goes over `gateway.upstream_http`'s keep-alive pool.
Anything else (streams, files, forms, query parameters) is httpx's, over aiohttp.
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
import orjson
from httpx._client import USE_CLIENT_DEFAULT, UseClientDefault
from httpx._types import (
    AuthTypes,
    CookieTypes,
    HeaderTypes,
    QueryParamTypes,
    RequestContent,
    RequestData,
    RequestExtensions,
    RequestFiles,
    TimeoutTypes,
)

from gateway.upstream_http import UpstreamHTTP

# Methods whose answer has a body to read (HEAD's has none): the plain path's.
_PLAIN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
# Headers aiohttp writes itself from the URL and body.
_OWN_HEADERS = frozenset({b"host", b"content-length", b"transfer-encoding"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Create inside the running event loop (the app's lifespan); `aclose` closes the pool."""

    def __init__(self, *, max_connections: int = 512, keepalive_seconds: float = 30.0) -> None:
        connector = aiohttp.TCPConnector(
            limit=max_connections, keepalive_timeout=keepalive_seconds, ttl_dns_cache=60
        )
        # trust_env: HTTP_PROXY / HTTPS_PROXY / NO_PROXY are honoured, as httpx does by default.
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=True,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() not in _OWN_HEADERS
        ]
        body = await request.aread()
        with _as_httpx_errors(lambda: request):
            response = await self._session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=_timeout(request),
            )
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            request=request,
        )

    async def aclose(self) -> None:
        await self._session.close()


class LeanClient(httpx.AsyncClient):
    """An httpx.AsyncClient over `AiohttpTransport` whose plain calls skip httpx's layers
    (see the module doc); its default headers are sent on those too."""

    def __init__(self, transport: AiohttpTransport, timeout: httpx.Timeout) -> None:
        super().__init__(transport=transport, timeout=timeout)
        self._http = UpstreamHTTP()
        # The small client speaks straight to the origin; where the environment names a proxy
        # (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY), every call takes httpx's way, which honours it.
        self._direct = not urllib.request.getproxies()
        self._defaults = {name: value for name, value in self.headers.items()}

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: RequestContent | None = None,
        data: RequestData | None = None,
        files: RequestFiles | None = None,
        json: Any | None = None,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        cookies: CookieTypes | None = None,
        auth: AuthTypes | UseClientDefault | None = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        extensions: RequestExtensions | None = None,
    ) -> httpx.Response:
        plain = (
            self._direct
            and isinstance(url, str)
            and content is None
            and data is None
            and files is None
            and not params
            and cookies is None
            and auth is USE_CLIENT_DEFAULT
            and follow_redirects is USE_CLIENT_DEFAULT
            and extensions is None
            and isinstance(headers, dict | None)
            and isinstance(timeout, httpx.Timeout | UseClientDefault)
            and method in _PLAIN_METHODS
        )
        if not plain:
            return await super().request(
                method,
                url,
                content=content,
                data=data,
                files=files,
                json=json,
                params=params,
                headers=headers,
                cookies=cookies,
                auth=auth,
                follow_redirects=follow_redirects,
                timeout=timeout,
                extensions=extensions,
            )
        assert isinstance(url, str) and isinstance(headers, dict | None)
        limits = self.timeout if isinstance(timeout, UseClientDefault) else timeout
        assert isinstance(limits, httpx.Timeout)
        sent = {**self._defaults, **headers} if headers else dict(self._defaults)
        body = None
        if json is not None:
            body = orjson.dumps(json)
            sent["content-type"] = "application/json"
        connect = limits.connect if limits.pool is None else _sum(limits.pool, limits.connect)
        answer = await self._http.request(
            method, url, sent, body, connect_timeout=connect, read_timeout=limits.read
        )
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            content=answer.body,  # decoded by httpx as the headers say (sent as received)
            request=None if 200 <= answer.status < 300 else httpx.Request(method, url),
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        await super().aclose()


def _sum(pool: float, connect: float | None) -> float | None:
    return None if connect is None else pool + connect


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(lambda: self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts (connect, read, pool) in aiohttp's terms."""
    timeouts = request.extensions.get("timeout", {})
    return _client_timeout(timeouts.get("pool"), timeouts.get("connect"), timeouts.get("read"))


_TIMEOUTS: dict[tuple[float | None, float | None, float | None], aiohttp.ClientTimeout] = {}


def _client_timeout(
    pool: float | None, connect: float | None, read: float | None
) -> aiohttp.ClientTimeout:
    """Made once per distinct triple (a handful per process), not per request."""
    key = (pool, connect, read)
    found = _TIMEOUTS.get(key)
    if found is None:
        found = _TIMEOUTS[key] = aiohttp.ClientTimeout(
            total=None, connect=pool, sock_connect=connect, sock_read=read
        )
    return found


@contextmanager
def _as_httpx_errors(where: Callable[[], httpx.Request]) -> Iterator[None]:
    """aiohttp's exception tree mapped onto httpx's; cancellation passes through. `where`
    makes the request the error names, only when there is an error."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=where()) from exc
    except aiohttp.ServerTimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=where()) from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError(str(exc), request=where()) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
        raise httpx.RemoteProtocolError(str(exc), request=where()) from exc
    except aiohttp.ClientResponseError as exc:  # malformed status line or headers
        raise httpx.RemoteProtocolError(str(exc), request=where()) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol(str(exc), request=where()) from exc
    except aiohttp.ClientOSError as exc:
        raise httpx.ReadError(str(exc), request=where()) from exc
    except aiohttp.ClientError as exc:
        raise httpx.TransportError(str(exc), request=where()) from exc

"""The HTTP boundary every remote adapter sends through: the one place foreign errors are mapped.

`translate_transport_errors` maps httpx exceptions, `map_http_error` maps a non-2xx response
(using the provider's parsed error detail), `read_json`/`parse_wire` turn bad bodies into
ProtocolError. tests/adapters/test_error_mapping.py proves both mappings total.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import httpx
import orjson
from pydantic import BaseModel, JsonValue, ValidationError

from adapters.call_rules import CONNECT_TIMEOUT_SECONDS
from adapters.errors import (
    AuthenticationError,
    BadRequestError,
    ContextLengthError,
    ModelUnavailableError,
    PermissionDeniedError,
    ProtocolError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitedError,
    RequestConflictError,
    ResourceNotFoundError,
    redact,
)
from adapters.ratelimit import parse_retry_after

__all__ = [
    "ErrorDetail",
    "Exchange",
    "classify_status",
    "convert_wire",
    "error_for_status",
    "is_header_safe",
    "json_error_detail",
    "map_http_error",
    "parse_wire",
    "read_json",
    "send",
    "translate_transport_errors",
]

W = TypeVar("W", bound=BaseModel)
A = TypeVar("A")
R = TypeVar("R")

# Provider error codes/types that override what the status alone would say.
_QUOTA = {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "billing_error"}
_CONTEXT = {"context_length_exceeded", "string_above_max_length", "prompt_too_long"}
_OVERLOADED = {"overloaded_error", "overloaded", "server_overloaded", "engine_overloaded"}
_CONTEXT_PHRASES = ("maximum context length", "context window", "prompt is too long")
# What an API key may hold to travel in a header: printable ASCII, no space (RFC 9110 VCHAR).
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class ErrorDetail:
    """What a provider's error body says, in its own words."""

    message: str
    type: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class Exchange:
    """One HTTP call as an adapter describes it to `send`."""

    method: str
    url: str
    headers: Mapping[str, str]
    json: JsonValue | None = None
    params: Mapping[str, str] | None = None
    # Multipart parts: (filename, content, content type), or (None, text) for a plain field.
    files: Mapping[str, tuple[str, bytes, str] | tuple[None, str]] | None = None
    data: Mapping[str, str] | None = None


def classify_status(status: int, detail: ErrorDetail) -> type[ProviderError]:
    """The error class for a non-2xx status, refined by the provider's error code or type."""
    markers = {m.lower() for m in (detail.code, detail.type) if m}
    if 400 <= status < 600 and markers & _QUOTA:
        return QuotaExhaustedError
    if 400 <= status < 500 and (
        markers & _CONTEXT or any(p in detail.message.lower() for p in _CONTEXT_PHRASES)
    ):
        return ContextLengthError
    if 400 <= status < 600 and markers & _OVERLOADED:
        return ModelUnavailableError
    by_status: dict[int, type[ProviderError]] = {
        401: AuthenticationError,
        402: QuotaExhaustedError,
        403: PermissionDeniedError,
        404: ResourceNotFoundError,
        408: ProviderTimeoutError,
        409: RequestConflictError,
        425: RequestConflictError,
        429: RateLimitedError,
    }
    if status in by_status:
        return by_status[status]
    if 400 <= status < 500:
        return BadRequestError
    if 500 <= status < 600:  # 500-504, 529 overloaded and the rest: the model cannot serve
        return ModelUnavailableError
    return ProtocolError  # 1xx, 2xx/3xx where an error was expected, or nonsense


def map_http_error(
    response: httpx.Response,
    *,
    provider: str,
    detail: ErrorDetail,
    secrets: Iterable[str | None] = (),
) -> ProviderError:
    """The taxonomy error for a failed response; secrets are scrubbed from the message."""
    return error_for_status(
        response.status_code,
        response.headers,
        provider=provider,
        detail=ErrorDetail(
            message=detail.message or response.reason_phrase or "no message",
            type=detail.type,
            code=detail.code,
        ),
        secrets=secrets,
    )


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    *,
    provider: str,
    detail: ErrorDetail,
    secrets: Iterable[str | None] = (),
) -> ProviderError:
    """The taxonomy error for a status, also for providers that put the status in the body."""
    cls = classify_status(status, detail)
    message = redact(detail.message or "no message", secrets)
    code = detail.code or detail.type
    if cls is RateLimitedError:
        return RateLimitedError(
            message,
            provider=provider,
            status_code=status,
            code=code,
            retry_after=parse_retry_after(headers),
        )
    return cls(message, provider=provider, status_code=status, code=code)


@contextmanager
def translate_transport_errors(*, provider: str) -> Iterator[None]:
    """Re-raise any httpx exception as the taxonomy error it means (`raise ... from exc`)."""
    try:
        yield
    except httpx.HTTPStatusError as exc:
        detail = ErrorDetail(message=f"HTTP {exc.response.status_code}")
        raise map_http_error(exc.response, provider=provider, detail=detail) from exc
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.NetworkError, httpx.ProxyError) as exc:
        raise ProviderConnectionError(_connection_fault(exc), provider=provider) from exc
    except httpx.TimeoutException as exc:
        raise ProviderTimeoutError(f"timed out: {type(exc).__name__}", provider=provider) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        # A base URL that can never work: the provider cannot serve, cool it and alert.
        raise ModelUnavailableError(f"invalid provider URL: {exc}", provider=provider) from exc
    except (httpx.HTTPError, httpx.StreamError, httpx.CookieConflict) as exc:
        # Broken HTTP exchange (protocol, decoding, redirects, stream misuse).
        raise ProtocolError(
            f"broken HTTP exchange: {type(exc).__name__}", provider=provider
        ) from exc


def is_header_safe(value: str) -> bool:
    """True when `value` can be sent as a credential header: printable ASCII, no whitespace."""
    return _HEADER_SAFE.fullmatch(value) is not None


def _connection_fault(exc: httpx.TransportError) -> str:
    """What went wrong reaching the provider, and where: "connection refused at host:port"."""
    where = _address(exc)
    cause = _root_cause(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection to {where} in time (connect timeout)"
    if isinstance(exc, httpx.ProxyError):
        return f"the proxy failed on the way to {where}: {type(exc).__name__}"
    if isinstance(cause, ConnectionRefusedError):
        return f"connection refused at {where}"
    if isinstance(cause, socket.gaierror):
        return f"DNS lookup failed for {where} ({cause.strerror or 'no address'})"
    if isinstance(cause, ConnectionResetError):
        return f"connection reset by {where}"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {where}: {type(cause).__name__}"
    return f"connection to {where} failed: {type(exc).__name__}"


def _address(exc: httpx.TransportError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # raised by httpx when the error carries no request
        return "the provider"
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = url.port or _DEFAULT_PORTS.get(url.scheme)
    return host if port is None else f"{host}:{port}"


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception httpx and httpcore wrapped (an OSError for socket faults)."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


async def send(
    client: httpx.AsyncClient,
    exchange: Exchange,
    *,
    provider: str,
    timeout: float,
    error_detail: Callable[[httpx.Response], ErrorDetail],
    secrets: Iterable[str | None] = (),
) -> httpx.Response:
    """Make one call; return the 2xx response or raise the taxonomy error.

    `timeout` bounds each read, write and pool wait; connecting gets at most
    CONNECT_TIMEOUT_SECONDS of it, so an unreachable host is found out early.
    """
    with translate_transport_errors(provider=provider):
        response = await client.request(
            exchange.method,
            exchange.url,
            headers=dict(exchange.headers),
            json=exchange.json,
            params=exchange.params,
            files=exchange.files,
            data=exchange.data,
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
        )
    if not response.is_success:
        raise map_http_error(
            response, provider=provider, detail=error_detail(response), secrets=secrets
        )
    return response


def read_json(response: httpx.Response, *, provider: str) -> JsonValue:
    """The response's JSON body, or ProtocolError if it is not JSON."""
    try:
        value: JsonValue = orjson.loads(response.content)  # a third of json.loads' time
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(
            f"malformed JSON in HTTP {response.status_code} body", provider=provider
        ) from exc
    return value


def parse_wire(model: type[W], value: JsonValue, *, provider: str) -> W:
    """Validate a wire body into its wire model, or ProtocolError naming what is wrong."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ProtocolError(
            f"unexpected {model.__name__} body: {where}: {first['msg']}", provider=provider
        ) from exc


def convert_wire(fn: Callable[[A], R], item: A, *, provider: str) -> R:
    """Wire model → standard model; a value the standard models refuse is a protocol fault."""
    try:
        return fn(item)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ProtocolError(f"unexpected value in body: {exc}", provider=provider) from exc


def json_error_detail(response: httpx.Response, path: tuple[str, ...] = ("error",)) -> ErrorDetail:
    """ErrorDetail from `{"error": {"message", "type", "code"}}` bodies, tolerant of anything."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return ErrorDetail(message=response.text[:300] or response.reason_phrase)
    node = body
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return ErrorDetail(message=str(body)[:300])
    return ErrorDetail(
        message=str(node.get("message") or response.reason_phrase),
        type=_str_or_none(node.get("type")),
        code=_str_or_none(node.get("code")),
    )


def _str_or_none(value: object) -> str | None:
    return str(value) if value is not None else None

"""The one error taxonomy: every status and every httpx exception maps into it, with its scope."""

from __future__ import annotations

import socket

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import errors
from adapters.errors import FaultScope, ProviderError
from adapters.http import (
    ErrorDetail,
    classify_status,
    is_header_safe,
    map_http_error,
    translate_transport_errors,
)
from tests.fakes.server import refusing_port

# The leaves a provider call can end in; nothing else may come out of the boundary.
LEAVES: set[type[ProviderError]] = {
    errors.AuthenticationError,
    errors.PermissionDeniedError,
    errors.QuotaExhaustedError,
    errors.RateLimitedError,
    errors.ModelUnavailableError,
    errors.BadRequestError,
    errors.ContextLengthError,
    errors.ResourceNotFoundError,
    errors.ProviderTimeoutError,
    errors.ProviderConnectionError,
    errors.RequestConflictError,
    errors.ProtocolError,
}


def _all_subclasses(cls: type[BaseException]) -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


def _httpx_exception_types() -> set[type[BaseException]]:
    roots = [httpx.HTTPError, httpx.StreamError, httpx.InvalidURL, httpx.CookieConflict]
    types: set[type[BaseException]] = set(roots)
    for root in roots:
        types |= {t for t in _all_subclasses(root) if t.__module__.startswith("httpx")}
    return types


def _instance(exc_type: type[BaseException]) -> BaseException:
    request = httpx.Request("GET", "https://provider.test/v1/x")
    if issubclass(exc_type, httpx.HTTPStatusError):
        response = httpx.Response(503, request=request)
        return exc_type("boom", request=request, response=response)
    if issubclass(exc_type, httpx.RequestError):
        return exc_type("boom", request=request)
    if issubclass(exc_type, httpx.StreamError) and exc_type is not httpx.StreamError:
        return exc_type()  # type: ignore[call-arg]  # concrete stream errors take no message
    return exc_type("boom")


def _response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "https://p.test"))


def test_every_status_code_maps_to_one_leaf_of_the_taxonomy() -> None:
    for status in [*range(100, 600), 600, 999]:
        cls = classify_status(status, ErrorDetail(message="x"))
        assert cls in LEAVES, status


@given(
    status=st.integers(min_value=0, max_value=1000),
    code=st.one_of(st.none(), st.text(max_size=30)),
    kind=st.one_of(st.none(), st.text(max_size=30)),
    message=st.text(max_size=200),
)
def test_mapping_is_total_whatever_the_provider_says(
    status: int, code: str | None, kind: str | None, message: str
) -> None:
    error = map_http_error(
        _response(status), provider="p", detail=ErrorDetail(message=message, type=kind, code=code)
    )
    assert type(error) in LEAVES
    assert isinstance(error.scope, FaultScope)
    assert error.status_code == status


@pytest.mark.parametrize(
    ("status", "code", "expected", "scope"),
    [
        (401, None, errors.AuthenticationError, FaultScope.KEY),
        (403, None, errors.PermissionDeniedError, FaultScope.KEY),
        (402, None, errors.QuotaExhaustedError, FaultScope.KEY),
        (429, "insufficient_quota", errors.QuotaExhaustedError, FaultScope.KEY),
        (429, "rate_limit_exceeded", errors.RateLimitedError, FaultScope.RATE_LIMIT),
        (500, None, errors.ModelUnavailableError, FaultScope.MODEL),
        (502, None, errors.ModelUnavailableError, FaultScope.MODEL),
        (503, "overloaded_error", errors.ModelUnavailableError, FaultScope.MODEL),
        (529, None, errors.ModelUnavailableError, FaultScope.MODEL),
        (400, None, errors.BadRequestError, FaultScope.REQUEST),
        (400, "context_length_exceeded", errors.ContextLengthError, FaultScope.REQUEST),
        (404, None, errors.ResourceNotFoundError, FaultScope.REQUEST),
        (413, None, errors.BadRequestError, FaultScope.REQUEST),
        (422, None, errors.BadRequestError, FaultScope.REQUEST),
        (408, None, errors.ProviderTimeoutError, FaultScope.TRANSIENT),
        (409, None, errors.RequestConflictError, FaultScope.TRANSIENT),
        (302, None, errors.ProtocolError, FaultScope.TRANSIENT),
    ],
)
def test_status_and_provider_code_choose_the_error_and_its_scope(
    status: int, code: str | None, expected: type[ProviderError], scope: FaultScope
) -> None:
    error = map_http_error(_response(status), provider="p", detail=ErrorDetail("m", code=code))
    assert type(error) is expected
    assert error.scope is scope


def test_context_length_is_recognised_from_the_message_alone() -> None:
    detail = ErrorDetail("prompt is too long: 210000 tokens > 200000 maximum")
    assert classify_status(400, detail) is errors.ContextLengthError


def test_rate_limited_error_carries_retry_after_from_the_response() -> None:
    error = map_http_error(
        _response(429, {"retry-after": "7"}), provider="p", detail=ErrorDetail("slow down")
    )
    assert isinstance(error, errors.RateLimitedError)
    assert error.retry_after == 7.0
    assert "retry after 7s" in str(error)


def test_only_key_faults_are_not_retryable_on_the_same_key_except_bad_requests() -> None:
    retryable = {cls for cls in LEAVES if cls.retryable}
    assert retryable == LEAVES - {
        errors.AuthenticationError,
        errors.PermissionDeniedError,
        errors.QuotaExhaustedError,
        errors.BadRequestError,
        errors.ContextLengthError,
        errors.ResourceNotFoundError,
    }


@pytest.mark.parametrize("exc_type", sorted(_httpx_exception_types(), key=repr))
def test_every_httpx_exception_is_translated_with_its_cause_kept(
    exc_type: type[BaseException],
) -> None:
    original = _instance(exc_type)
    with pytest.raises(ProviderError) as caught, translate_transport_errors(provider="p"):
        raise original
    assert type(caught.value) in LEAVES
    assert caught.value.__cause__ is original


def test_httpx_exception_list_covers_the_known_families() -> None:
    names = {t.__name__ for t in _httpx_exception_types()}
    assert {"ConnectError", "ReadTimeout", "PoolTimeout", "RemoteProtocolError"} <= names
    assert {"DecodingError", "TooManyRedirects", "UnsupportedProtocol", "StreamClosed"} <= names


@pytest.mark.parametrize(
    ("exc_type", "expected"),
    [
        (httpx.ConnectTimeout, errors.ProviderConnectionError),
        (httpx.ReadTimeout, errors.ProviderTimeoutError),
        (httpx.PoolTimeout, errors.ProviderTimeoutError),
        (httpx.ConnectError, errors.ProviderConnectionError),
        (httpx.ReadError, errors.ProviderConnectionError),
        (httpx.RemoteProtocolError, errors.ProtocolError),
        (httpx.UnsupportedProtocol, errors.ModelUnavailableError),
    ],
)
def test_transport_failures_map_to_their_meaning(
    exc_type: type[BaseException], expected: type[ProviderError]
) -> None:
    with pytest.raises(expected), translate_transport_errors(provider="p"):
        raise _instance(exc_type)


def test_connection_faults_are_the_providers_not_the_keys() -> None:
    error = errors.ProviderConnectionError("connection refused at h:1", provider="p")
    assert error.scope is FaultScope.PROVIDER and error.retryable
    assert not isinstance(error, errors.TransientError | errors.KeyScopedError)


@pytest.mark.anyio
async def test_a_refused_connection_names_the_cause_and_the_address() -> None:
    with refusing_port() as port:
        async with httpx.AsyncClient() as client:
            with (
                pytest.raises(errors.ProviderConnectionError) as caught,
                translate_transport_errors(provider="p"),
            ):
                await client.get(f"http://127.0.0.1:{port}/v1/chat/completions")
    assert str(caught.value) == f"p: connection refused at 127.0.0.1:{port}"


def _wrapped(cause: BaseException, url: str) -> httpx.ConnectError:
    """httpx's ConnectError as httpcore raises it: chained from the socket's own error."""
    try:
        try:
            raise cause
        except OSError as exc:
            raise httpx.ConnectError("boom", request=httpx.Request("GET", url)) from exc
    except httpx.ConnectError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("cause", "url", "message"),
    [
        (
            socket.gaierror(-2, "Name or service not known"),
            "https://api.nowhere.invalid/v1",
            "DNS lookup failed for api.nowhere.invalid:443 (Name or service not known)",
        ),
        (
            ConnectionResetError(104, "reset"),
            "http://[::1]:8080/v1",
            "connection reset by [::1]:8080",
        ),
        (
            OSError(113, "No route to host"),
            "http://10.0.0.1/v1",
            "cannot connect to 10.0.0.1:80: OSError",
        ),
    ],
)
def test_connection_messages_say_what_failed_and_where(
    cause: BaseException, url: str, message: str
) -> None:
    with (
        pytest.raises(errors.ProviderConnectionError) as caught,
        translate_transport_errors(provider="p"),
    ):
        raise _wrapped(cause, url)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("sk-proj-AbC_123.~+/=", True),
        ("sk-t\u00e9st-key", False),  # a non-ASCII letter
        ("sk\u2010test\u2010key", False),  # a typographic hyphen from copy and paste
        ("sk-test key", False),
        ("sk-test\tkey", False),
        ("sk-test\x1b[2J", False),
        ("sk-test\r\nX-Injected: 1", False),
        ("", False),
    ],
)
def test_only_printable_ascii_without_spaces_is_header_safe(value: str, safe: bool) -> None:
    assert is_header_safe(value) is safe


def test_messages_never_carry_the_secret_or_anything_shaped_like_a_key() -> None:
    secret = "plain-secret-without-prefix-123"
    detail = ErrorDetail(f"Incorrect API key provided: {secret}; also sk-proj-abcdEFGH1234")
    error = map_http_error(_response(401), provider="p", detail=detail, secrets=[secret])
    for text in (str(error), repr(error), error.message):
        assert secret not in text
        assert "sk-proj-abcdEFGH1234" not in text
        assert "[redacted]" in text


def test_configuration_errors_list_what_exists() -> None:
    error = errors.UnknownProviderKindError("opneai", ["openai", "local"])
    assert "known kinds: local, openai" in str(error)
    unsupported = errors.UnsupportedCategoryError("openai", "text-to-image", ["chat"])
    assert "it serves: chat" in str(unsupported)
    assert not isinstance(unsupported, ProviderError)

"""Every error the gateway answers with, in OpenAI's shape `{"error": {message, type, param,
code}}`, and the one place provider and key-pool failures become HTTP statuses.

ApiError(status, message, *, type, param, code, headers)
 ├── 400 invalid_request_error   malformed JSON, a bad field (`param` names it), wrong category
 ├── 401 authentication_error    missing, malformed, unknown or revoked token
 ├── 403 permission_error        the token lacks the route's scope
 ├── 404 not_found_error         unknown endpoint (another team's answers the same)
 ├── 409 conflict_error          the endpoint is undeployed
 ├── 413 invalid_request_error   the body is over the size limit
 ├── 429 rate_limit_error        no key is free; Retry-After from the earliest key deadline
 └── 502 / 503 / 504 upstream_error  the provider failed, is unavailable, or ran out of time
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

import orjson
from starlette.responses import Response

from adapters.errors import (
    BadRequestError,
    ConfigurationError,
    ContextLengthError,
    ModelUnavailableError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    TransientError,
)
from dispatch.keyed_call import BudgetExhaustedError, CallFailedError, NoUsableKeyError
from registry.keys import KeyOutcome
from registry.orm import utcnow

_COOLING_KEYS = frozenset({KeyOutcome.RATE_LIMITED, KeyOutcome.KEY_SCOPED})
_MODEL_DOWN = frozenset({KeyOutcome.MODEL_SCOPED, KeyOutcome.UNREACHABLE})

JSON = "application/json"


class ApiError(Exception):
    """An answer other than success; `error_class` is what metrics and outcomes count."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    @property
    def error_class(self) -> str:
        return self.code or self.type

    def response(self, extra_headers: Mapping[str, str] | None = None) -> Response:
        return error_response(
            self.status,
            self.message,
            self.type,
            self.param,
            self.code,
            {**self.headers, **(extra_headers or {})},
        )


def error_response(
    status: int,
    message: str,
    type: str,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return Response(orjson.dumps(body), status, headers=dict(headers or {}), media_type=JSON)


def invalid(message: str, param: str | None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, type="authentication_error", code="invalid_api_key")


def not_found(endpoint: str) -> ApiError:
    """The same answer for a missing endpoint and another team's: nothing tells them apart."""
    return ApiError(
        404,
        f"endpoint {endpoint!r} does not exist; GET /v1/models lists yours",
        type="not_found_error",
        param="model",
        code="endpoint_not_found",
    )


def from_provider_error(exc: ProviderError) -> ApiError:
    """A provider fault as the client should see it: a request fault is the client's (400),
    the rest are the upstream's (502, 503, 504). The message is already scrubbed of keys."""
    if isinstance(exc, ContextLengthError):
        return ApiError(400, str(exc), code="context_length_exceeded")
    if isinstance(exc, BadRequestError):
        return ApiError(400, str(exc), code="upstream_rejected_request")
    if isinstance(exc, ProviderTimeoutError):
        return _upstream(504, f"the provider did not answer in time: {exc}", "upstream_timeout")
    if isinstance(exc, ModelUnavailableError | RateLimitedError):
        return _upstream(503, f"the provider cannot serve now: {exc}", "upstream_unavailable")
    if isinstance(exc, TransientError):
        return _upstream(502, f"the provider call failed: {exc}", "upstream_error")
    return _upstream(502, f"the provider refused the call: {exc}", "upstream_error")


def from_call_failure(exc: CallFailedError, now: datetime | None = None) -> ApiError:
    """No key answered, and what the attempts met decides the answer: keys cooling (or none
    tried, all cooling) is the gateway's own 429 with Retry-After; the model cooling after
    5xx or an unreachable provider is a 503; attempts that timed out are a 504; a pool with
    no usable key at all is a 503."""
    last = exc.attempts[-1].outcome if exc.attempts else None
    if isinstance(exc, NoUsableKeyError):
        return no_key_free(exc.summary, None, now)
    if exc.first_free_at is not None and (last is None or last in _COOLING_KEYS):
        return no_key_free(exc.summary, exc.first_free_at, now)
    if last in _MODEL_DOWN:
        error = _upstream(
            503, f"the provider cannot serve now: {exc.summary}", "upstream_unavailable"
        )
        if exc.first_free_at is not None:
            error.headers["retry-after"] = str(_seconds_until(exc.first_free_at, now))
        return error
    if last == KeyOutcome.TIMED_OUT or isinstance(exc, BudgetExhaustedError):
        return _upstream(504, exc.summary, "upstream_timeout")
    return _upstream(502, exc.summary, "upstream_error")


def no_key_free(
    summary: str, first_free_at: datetime | None, now: datetime | None = None
) -> ApiError:
    """The gateway's own 429 when a key frees up later (Retry-After = the earliest key
    deadline), or a 503 when no key ever will (none added, or all disabled)."""
    if first_free_at is None:
        return _upstream(503, f"no usable provider key: {summary}", "no_usable_key")
    wait = _seconds_until(first_free_at, now)
    return ApiError(
        429,
        f"every provider key is busy or cooling; retry after {wait}s",
        type="rate_limit_error",
        code="no_key_available",
        headers={"retry-after": str(wait)},
    )


def from_configuration_error(exc: ConfigurationError) -> ApiError:
    return ApiError(400, str(exc), param="model", code="unsupported_category")


def _seconds_until(moment: datetime, now: datetime | None) -> int:
    return max(1, math.ceil((moment - (now or utcnow())).total_seconds()))


def _upstream(status: int, message: str, code: str) -> ApiError:
    return ApiError(status, message, type="upstream_error", code=code)

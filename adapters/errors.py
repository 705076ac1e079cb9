"""The one exception tree of the adapters layer and the fault scope each provider error carries.

AdapterError
 ├── ProviderError(message, *, provider, status_code=None, code=None)   a provider call failed
 │    ├── KeyScopedError              scope=key         the credential is at fault
 │    │    ├── AuthenticationError        401
 │    │    ├── PermissionDeniedError      403
 │    │    └── QuotaExhaustedError        402, 429 insufficient_quota, billing limits
 │    ├── RateLimitedError            scope=rate_limit  429; carries retry_after (seconds)
 │    ├── ModelUnavailableError       scope=model       5xx, 529, overloaded, unusable base URL
 │    ├── ProviderConnectionError     scope=provider    refused, DNS failure, connect timeout, reset
 │    ├── BadRequestError             scope=request     400, 405-499 except those above
 │    │    ├── ContextLengthError         context_length_exceeded, prompt too long
 │    │    └── ResourceNotFoundError      404 unknown model, job, file or task
 │    └── TransientError              scope=transient   retry elsewhere, cool nothing
 │         ├── ProviderTimeoutError       no answer in time (read timeout, attempt timeout), 408
 │         ├── RequestConflictError       409, 425: a conflicting request is in flight
 │         └── ProtocolError              malformed or unexpected body, 1xx/3xx, broken HTTP
 ├── ConfigurationError               misuse, raised before anything is sent
 │    ├── UnknownProviderKindError        lists the kinds that exist
 │    └── UnsupportedCategoryError        lists the categories the adapter serves
 └── WebhookError                     an incoming provider webhook is refused
      ├── InvalidSignatureError
      │    └── StaleWebhookError          its timestamp is outside the tolerance window
      └── MalformedWebhookError

`retryable` answers "may the same request succeed later with the same credential?"; `scope`
says what to cool (see adapters/README.md); adapters/call_rules.py applies both. Messages are
scrubbed of anything shaped like a key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import ClassVar

__all__ = [
    "AdapterError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ContextLengthError",
    "FaultScope",
    "InvalidSignatureError",
    "KeyScopedError",
    "MalformedWebhookError",
    "ModelUnavailableError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "QuotaExhaustedError",
    "RateLimitedError",
    "RequestConflictError",
    "ResourceNotFoundError",
    "StaleWebhookError",
    "TransientError",
    "UnknownProviderKindError",
    "UnsupportedCategoryError",
    "WebhookError",
    "redact",
]


class FaultScope(StrEnum):
    """What a provider fault says is broken, and so what the caller should cool."""

    KEY = "key"  # disable or cool this key; other keys may work
    RATE_LIMIT = "rate_limit"  # cool this key until retry_after; other keys may work
    MODEL = "model"  # cool the model on every key; try a fallback provider
    PROVIDER = "provider"  # the provider cannot be reached: no key is at fault, none would help
    REQUEST = "request"  # the request itself is wrong; cool nothing, do not retry
    TRANSIENT = "transient"  # a blip; retry (elsewhere if possible), cool nothing


# Shapes of secrets that providers echo back in error bodies (OpenAI masks the middle of a
# wrong key but keeps its prefix and tail), scrubbed even when the caller forgot to redact.
_SECRET_SHAPES = re.compile(
    r"\b(?:sk|whsec|whsk|whpk)[-_][A-Za-z0-9_\-*.]{4,}|(?i:bearer)\s+[A-Za-z0-9_\-.~+/=*]+"
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove the given secrets and anything shaped like an API key from text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _SECRET_SHAPES.sub("[redacted]", text)


class AdapterError(Exception):
    """Root of every error the adapters layer raises."""


class ProviderError(AdapterError):
    """A call to a provider failed; `scope` and `retryable` say how to react."""

    scope: ClassVar[FaultScope] = FaultScope.TRANSIENT
    retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        self.message = redact(message)
        self.provider = provider
        self.status_code = status_code
        self.code = code
        super().__init__(self.message)

    def __str__(self) -> str:
        detail = [f"HTTP {self.status_code}"] if self.status_code is not None else []
        if self.code:
            detail.append(f"code={self.code}")
        suffix = f" ({', '.join(detail)})" if detail else ""
        return f"{self.provider}: {self.message}{suffix}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, "
            f"status_code={self.status_code!r}, code={self.code!r}, message={self.message!r})"
        )


class KeyScopedError(ProviderError):
    """The credential is refused: disable or cool the key, another key may work."""

    scope = FaultScope.KEY
    retryable = False


class AuthenticationError(KeyScopedError):
    """The key is unknown, revoked or malformed (401)."""


class PermissionDeniedError(KeyScopedError):
    """The key is valid but may not use this resource or region (403)."""


class QuotaExhaustedError(KeyScopedError):
    """The key's account is out of credit or over its billing limit (402, insufficient_quota)."""


class RateLimitedError(ProviderError):
    """The key is over its rate limit (429); `retry_after` is in seconds when the provider said."""

    scope = FaultScope.RATE_LIMIT
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = 429,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status_code=status_code, code=code)
        self.retry_after = retry_after

    def __str__(self) -> str:
        base = super().__str__()
        return base if self.retry_after is None else f"{base}; retry after {self.retry_after:g}s"


class ModelUnavailableError(ProviderError):
    """The provider or model cannot serve now (5xx, 529, overloaded): cool the model."""

    scope = FaultScope.MODEL
    retryable = True


class ProviderConnectionError(ProviderError):
    """The provider could not be reached, or dropped the connection: its fault, not the key's.

    The message names the cause and the address ("connection refused at 127.0.0.1:8080").
    """

    scope = FaultScope.PROVIDER
    retryable = True


class BadRequestError(ProviderError):
    """The request is wrong for this provider or model; sending it again will fail again."""

    scope = FaultScope.REQUEST
    retryable = False


class ContextLengthError(BadRequestError):
    """The prompt plus requested output exceeds the model's context window."""


class ResourceNotFoundError(BadRequestError):
    """The model, job, file or task does not exist for this credential (404)."""


class TransientError(ProviderError):
    """A passing fault of the exchange itself; retry, cool nothing."""

    scope = FaultScope.TRANSIENT
    retryable = True


class ProviderTimeoutError(TransientError):
    """No answer in time: the HTTP read timeout, the call's attempt timeout, or a 408."""


class RequestConflictError(TransientError):
    """A conflicting request is in flight (409, 425), for example the same idempotency key."""


class ProtocolError(TransientError):
    """The provider answered with a malformed or unexpected body or status."""


class ConfigurationError(AdapterError, ValueError):
    """The adapters were asked for something that does not exist; nothing was sent."""


class UnknownProviderKindError(ConfigurationError):
    """No adapter is registered under this kind."""

    def __init__(self, kind: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.known = tuple(sorted(known))
        super().__init__(f"unknown provider kind {kind!r}; known kinds: {', '.join(self.known)}")


class UnsupportedCategoryError(ConfigurationError):
    """The adapter does not serve this category (or capability)."""

    def __init__(self, kind: str, category: str, supported: Iterable[str]) -> None:
        self.kind = kind
        self.category = category
        self.supported = tuple(sorted(supported))
        super().__init__(
            f"provider kind {kind!r} does not serve {category!r}; "
            f"it serves: {', '.join(self.supported) or 'nothing'}"
        )


class WebhookError(AdapterError):
    """An incoming webhook was refused; answer it with 4xx and change nothing."""


class InvalidSignatureError(WebhookError):
    """The webhook's signature or timestamp does not verify."""


class StaleWebhookError(InvalidSignatureError):
    """The webhook's timestamp is too far from now: a replay of a captured delivery, or a
    clock far off."""


class MalformedWebhookError(WebhookError):
    """The webhook verified (or carried no signature scheme we know) but its body is unusable."""

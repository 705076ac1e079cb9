"""What one served (or reported) request left behind: the outcome, checked when it is built.

An outcome is a plain frozen dataclass, not a pydantic model: the gateway builds one per
request, so construction must cost microseconds. Bad values raise `InvalidInputError`
naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType

from registry.errors import InvalidInputError

REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
ERROR_CLASS = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
METRIC_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_METRICS = 32
# Scores beyond this are data errors, and the bound keeps exact rollup sums short.
MAX_SCORE = 1e12
MAX_LATENCY_MS = 86_400_000.0  # one day
MAX_TOKENS = 2**31 - 1
INT64 = 2**63


def _fail(name: str, allowed: str, value: object) -> InvalidInputError:
    return InvalidInputError(f"{name} must be {allowed}, got {value!r:.80}", field=name)


def check_request_id(value: object) -> str:
    if not isinstance(value, str) or REQUEST_ID.fullmatch(value) is None:
        raise _fail("request_id", "1-64 characters of A-Z a-z 0-9 . _ : - (not first)", value)
    return value


def check_score(name: str, value: object) -> float:
    """A finite score (quality, custom metric), at most 1e12 in magnitude."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, "a number", value)
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_SCORE:
        raise _fail(name, f"finite and at most {MAX_SCORE:g} in magnitude", value)
    return number


def check_metrics(value: Mapping[str, float]) -> Mapping[str, float]:
    """Named custom metrics (`customer_satisfaction: 4.2`): snake_case names, finite values."""
    if not isinstance(value, Mapping):
        raise _fail("metrics", "an object of name: number", value)
    if len(value) > MAX_METRICS:
        raise _fail("metrics", f"at most {MAX_METRICS} names", f"{len(value)} names")
    checked: dict[str, float] = {}
    for name, number in value.items():
        if not isinstance(name, str) or METRIC_NAME.fullmatch(name) is None:
            raise _fail("metrics", "keyed by snake_case names of 1-64 characters", name)
        checked[name] = check_score(f"metrics.{name}", number)
    return MappingProxyType(checked)


def _check_count(name: str, value: object, limit: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise _fail(name, f"an integer in [0, {limit})", value)


def _check_id(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise _fail(name, "a positive 32-bit integer", value)


def _check_duration(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, "a number of milliseconds", value)
    number = float(value)
    if not 0.0 <= number <= MAX_LATENCY_MS:
        raise _fail(name, f"between 0 and {MAX_LATENCY_MS:g} ms", value)
    return number


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request: who served it, how it went, what it cost, how good it was.

    `at` is when the request arrived (UTC); it decides the rollup minute. Durations are
    kept to the microsecond. `input_tokens` includes the cached ones. `cost_micro_usd` is
    integer micro-USD computed with price `price_id` (`registry.usage.pricing`; None: no
    price covered it). `quality` and `metrics` may also come
    later, by request id (see `record_feedback`).
    """

    request_id: str
    team_id: int
    endpoint_id: int
    model_version_id: int
    at: datetime
    latency_ms: float
    success: bool
    error_class: str | None = None
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost_micro_usd: int = 0
    price_id: int | None = None
    routing_key_hash: int | None = None
    quality: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    provider_key_id: int | None = None  # the pooled key that answered, if one did

    def __post_init__(self) -> None:
        check_request_id(self.request_id)
        for name in ("team_id", "endpoint_id", "model_version_id"):
            _check_id(name, getattr(self, name))
        if not isinstance(self.at, datetime) or self.at.tzinfo is None:
            raise _fail("at", "a timezone-aware datetime", self.at)
        if self.at.tzinfo is not UTC:
            object.__setattr__(self, "at", self.at.astimezone(UTC))
        object.__setattr__(self, "latency_ms", _check_duration("latency_ms", self.latency_ms))
        if self.ttft_ms is not None:
            object.__setattr__(self, "ttft_ms", _check_duration("ttft_ms", self.ttft_ms))
        self._check_result()
        for name in ("input_tokens", "output_tokens", "cached_input_tokens"):
            _check_count(name, getattr(self, name), MAX_TOKENS)
        _check_count("cost_micro_usd", self.cost_micro_usd, INT64)
        if self.price_id is not None:
            _check_id("price_id", self.price_id)
        if self.provider_key_id is not None:
            _check_id("provider_key_id", self.provider_key_id)
        if self.cached_input_tokens > self.input_tokens:
            raise _fail(
                "cached_input_tokens",
                f"at most input_tokens ({self.input_tokens})",
                self.cached_input_tokens,
            )
        self._check_routing_key_hash()
        if self.quality is not None:
            object.__setattr__(self, "quality", check_score("quality", self.quality))
        if self.metrics:
            object.__setattr__(self, "metrics", check_metrics(self.metrics))

    def _check_result(self) -> None:
        if not isinstance(self.success, bool):
            raise _fail("success", "true or false", self.success)
        if self.error_class is None:
            if not self.success:
                raise _fail("error_class", "set when success is false", None)
        elif not isinstance(self.error_class, str) or not ERROR_CLASS.fullmatch(self.error_class):
            raise _fail("error_class", "1-64 characters of A-Z a-z 0-9 _ . : -", self.error_class)
        elif self.success:
            raise _fail("error_class", "empty when success is true", self.error_class)

    def _check_routing_key_hash(self) -> None:
        value = self.routing_key_hash
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not -INT64 <= value < INT64
        ):
            raise _fail("routing_key_hash", "a signed 64-bit integer", value)


class FeedbackStatus(StrEnum):
    APPLIED = "applied"  # the outcome is stored and its rollup minute now counts the scores
    PENDING = "pending"  # the outcome has not landed yet; applied when it does


@dataclass(frozen=True)
class StoreResult:
    """What one batch did: rows new to the database, and rows it already had."""

    inserted: int
    duplicates: int

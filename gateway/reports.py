"""Outcome reports and feedback as consumers send them, checked field by field: a bad item
is a 400 naming it (`outcomes[3].latency_ms`) and nothing of the batch is recorded."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.errors import invalid

MAX_OUTCOMES = 1000
MAX_LATENCY_MS = 86_400_000.0
MAX_TOKENS = 2**31 - 1
MAX_SCORE = 1e12
MAX_METRICS = 32
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
ERROR_CLASS = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
METRIC_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
OUTCOME_FIELDS = frozenset(
    {
        "request_id",
        "endpoint",
        "version",
        "latency_ms",
        "success",
        "error_class",
        "ttft_ms",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "images",
        "seconds",
        "user",
        "quality",
        "metrics",
        "at",
    }
)
MAX_AGE = timedelta(days=7)  # an outcome reported later than this is refused


@dataclass(frozen=True)
class OutcomeReport:
    request_id: str
    endpoint: str
    version: int
    latency_ms: float
    success: bool
    error_class: str | None
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0  # included in input_tokens
    images: int = 0
    seconds: float = 0.0  # of audio or video produced, for prices per second
    user: str | None = None
    quality: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    at: datetime | None = None


@dataclass(frozen=True)
class FeedbackReport:
    request_id: str
    quality: float | None
    metrics: dict[str, float]


def read_outcome(item: object, where: str) -> OutcomeReport:
    if not isinstance(item, dict):
        raise invalid(f"'{where}' must be an object", where)
    if "cost_micro_usd" in item:
        raise invalid(
            f"'{where}.cost_micro_usd' is not taken: the gateway prices every outcome from the "
            "catalog's prices; report input_tokens, cached_input_tokens and output_tokens "
            "(or images, seconds) instead",
            f"{where}.cost_micro_usd",
        )
    unknown = sorted(set(item) - OUTCOME_FIELDS)
    if unknown:
        raise invalid(
            f"'{where}.{unknown[0]}' is not an outcome field; fields: "
            + ", ".join(sorted(OUTCOME_FIELDS)),
            f"{where}.{unknown[0]}",
        )
    success, error_class = _result(item, where)
    endpoint = item.get("endpoint")
    if not isinstance(endpoint, str) or not 1 <= len(endpoint) <= 128:
        raise invalid(f"'{where}.endpoint' must be the endpoint's name", f"{where}.endpoint")
    user = item.get("user")
    if user is not None and (not isinstance(user, str) or not 1 <= len(user) <= 256):
        raise invalid(f"'{where}.user' must be a string of 1 to 256 characters", f"{where}.user")
    return OutcomeReport(
        request_id=read_request_id(item.get("request_id"), f"{where}.request_id"),
        endpoint=endpoint,
        version=_integer(item, "version", where, low=1, high=2**31 - 1, required=True),
        latency_ms=_duration(item, "latency_ms", where, required=True) or 0.0,
        success=success,
        error_class=error_class,
        ttft_ms=_duration(item, "ttft_ms", where),
        input_tokens=_integer(item, "input_tokens", where, high=MAX_TOKENS),
        output_tokens=_integer(item, "output_tokens", where, high=MAX_TOKENS),
        cached_input_tokens=_cached(item, where),
        images=_integer(item, "images", where, high=10_000),
        seconds=_seconds(item, where),
        user=user,
        quality=_score(item.get("quality"), f"{where}.quality"),
        metrics=read_metrics(item.get("metrics"), f"{where}.metrics"),
        at=_at(item.get("at"), f"{where}.at"),
    )


def _seconds(item: dict[str, object], where: str) -> float:
    value = item.get("seconds")
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 86_400:
        raise invalid(f"'{where}.seconds' must be seconds from 0 to 86400", f"{where}.seconds")
    return float(value)


def _cached(item: dict[str, object], where: str) -> int:
    cached = _integer(item, "cached_input_tokens", where, high=MAX_TOKENS)
    if cached > _integer(item, "input_tokens", where, high=MAX_TOKENS):
        raise invalid(
            f"'{where}.cached_input_tokens' must be at most input_tokens (which include them)",
            f"{where}.cached_input_tokens",
        )
    return cached


def _result(item: dict[str, object], where: str) -> tuple[bool, str | None]:
    """`success`, and `error_class` exactly when it is false."""
    success = item.get("success")
    if not isinstance(success, bool):
        raise invalid(f"'{where}.success' must be true or false", f"{where}.success")
    if success:
        if item.get("error_class") is not None:
            raise invalid(
                f"'{where}.error_class' must be absent when success is true",
                f"{where}.error_class",
            )
        return True, None
    rule = "1-64 characters of A-Z a-z 0-9 _ . : -"
    return False, _pattern(item, "error_class", where, ERROR_CLASS, rule)


def read_feedback(body: object) -> FeedbackReport:
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object with 'request_id'", None)
    unknown = sorted(set(body) - {"request_id", "quality", "metrics"})
    if unknown:
        raise invalid(
            f"{unknown[0]!r} is not a feedback field; fields: request_id, quality, metrics",
            unknown[0],
        )
    report = FeedbackReport(
        request_id=read_request_id(body.get("request_id"), "request_id"),
        quality=_score(body.get("quality"), "quality"),
        metrics=read_metrics(body.get("metrics"), "metrics"),
    )
    if report.quality is None and not report.metrics:
        raise invalid("give a 'quality' score or at least one entry in 'metrics'", "quality")
    return report


def read_request_id(value: object, where: str) -> str:
    if not isinstance(value, str) or REQUEST_ID.fullmatch(value) is None:
        raise invalid(
            f"'{where}' must be the request id the gateway gave (1-64 characters of "
            "A-Z a-z 0-9 . _ : -)",
            where,
        )
    return value


def read_metrics(value: object, where: str) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METRICS:
        raise invalid(f"'{where}' must be an object of at most {MAX_METRICS} name: number", where)
    metrics = {}
    for name, number in value.items():
        if METRIC_NAME.fullmatch(name) is None:
            raise invalid(
                f"'{where}' names must be snake_case, 1-64 characters; got {name[:70]!r}", where
            )
        score = _score(number, f"{where}.{name}")
        if score is None:
            raise invalid(f"'{where}.{name}' must be a number", f"{where}.{name}")
        metrics[name] = score
    return metrics


def _score(value: object, where: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or abs(value) > MAX_SCORE
    ):
        raise invalid(
            f"'{where}' must be a finite number, at most {MAX_SCORE:g} in magnitude", where
        )
    return float(value)


def _pattern(
    item: dict[str, object], name: str, where: str, pattern: re.Pattern[str], rule: str
) -> str:
    value = item.get(name)
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise invalid(f"'{where}.{name}' must be {rule} when success is false", f"{where}.{name}")
    return value


def _integer(
    item: dict[str, object],
    name: str,
    where: str,
    *,
    low: int = 0,
    high: int,
    required: bool = False,
) -> int:
    value = item.get(name)
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(
            f"'{where}.{name}' must be an integer from {low} to {high}", f"{where}.{name}"
        )
    return value


def _duration(
    item: dict[str, object], name: str, where: str, *, required: bool = False
) -> float | None:
    value = item.get(name)
    if value is None and not required:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= MAX_LATENCY_MS
    ):
        raise invalid(
            f"'{where}.{name}' must be milliseconds from 0 to {MAX_LATENCY_MS:g}", f"{where}.{name}"
        )
    return float(value)


def _at(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    moment = None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        raise invalid(f"'{where}' must be an ISO 8601 time with a UTC offset", where)
    moment = moment.astimezone(UTC)
    now = datetime.now(UTC)
    if not now - MAX_AGE <= moment <= now + timedelta(minutes=5):
        raise invalid(f"'{where}' must lie within the last {MAX_AGE.days} days", where)
    return moment

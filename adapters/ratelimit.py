"""Reading providers' rate-limit headers: how long to wait, and how much quota is left.

Precedence for the wait: `retry-after-ms`, then `retry-after` (seconds or HTTP-date), then the
reset of whichever `x-ratelimit-*` window is exhausted, then Anthropic's RFC 3339 resets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from pydantic import BaseModel, ConfigDict

__all__ = ["RateLimitSnapshot", "parse_duration", "parse_rate_limit", "parse_retry_after"]

# Go-style durations as OpenAI sends them: "6m0s", "20ms", "1s", "1h2m3.5s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_WINDOWS = ("requests", "tokens")
_ANTHROPIC_RESETS = (
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-reset",
)


class RateLimitSnapshot(BaseModel):
    """Quota left on a key as the provider reported it with a response (for pacing)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests_seconds: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens_seconds: float | None = None


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration ("6m0s", "20ms") or a bare number of seconds."""
    text = text.strip()
    if not text:
        return None
    bare = _finite(text)
    if bare is not None:
        return bare if bare >= 0 else None
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(num + unit for num, unit in parts) != text:
        return None
    return sum(float(num) * _UNIT_SECONDS[unit] for num, unit in parts)


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait before retrying, from whichever header the provider sent; None if none."""
    lower = {k.lower(): v for k, v in headers.items()}
    now = now or datetime.now(UTC)
    if (ms := _finite(lower.get("retry-after-ms", ""))) is not None and ms >= 0:
        return ms / 1000.0
    if (after := _parse_retry_after_value(lower.get("retry-after", ""), now)) is not None:
        return after
    if (reset := _exhausted_window_reset(lower)) is not None:
        return reset
    resets = [_seconds_until_rfc3339(lower[h], now) for h in _ANTHROPIC_RESETS if h in lower]
    known = [r for r in resets if r is not None]
    return max(known) if known else None


def parse_rate_limit(
    headers: Mapping[str, str], *, now: datetime | None = None
) -> RateLimitSnapshot | None:
    """The quota headers of a response (`x-ratelimit-*` or `anthropic-ratelimit-*`), if any."""
    lower = {k.lower(): v for k, v in headers.items()}
    if any(k.startswith("anthropic-ratelimit-") for k in lower):
        return _anthropic_snapshot(lower, now or datetime.now(UTC))
    if not any(k.startswith("x-ratelimit-") for k in lower):
        return None
    return RateLimitSnapshot(
        limit_requests=_int(lower.get("x-ratelimit-limit-requests")),
        remaining_requests=_int(lower.get("x-ratelimit-remaining-requests")),
        reset_requests_seconds=parse_duration(lower.get("x-ratelimit-reset-requests", "")),
        limit_tokens=_int(lower.get("x-ratelimit-limit-tokens")),
        remaining_tokens=_int(lower.get("x-ratelimit-remaining-tokens")),
        reset_tokens_seconds=parse_duration(lower.get("x-ratelimit-reset-tokens", "")),
    )


def _anthropic_snapshot(lower: Mapping[str, str], now: datetime) -> RateLimitSnapshot:
    prefix = "anthropic-ratelimit-"

    def reset(window: str) -> float | None:
        value = lower.get(f"{prefix}{window}-reset")
        return _seconds_until_rfc3339(value, now) if value else None

    return RateLimitSnapshot(
        limit_requests=_int(lower.get(f"{prefix}requests-limit")),
        remaining_requests=_int(lower.get(f"{prefix}requests-remaining")),
        reset_requests_seconds=reset("requests"),
        limit_tokens=_int(lower.get(f"{prefix}tokens-limit")),
        remaining_tokens=_int(lower.get(f"{prefix}tokens-remaining")),
        reset_tokens_seconds=reset("tokens"),
    )


def _parse_retry_after_value(value: str, now: datetime) -> float | None:
    value = value.strip()
    if not value:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _exhausted_window_reset(lower: Mapping[str, str]) -> float | None:
    """Reset of the exhausted window(s); of every window when none says it is exhausted."""
    resets: dict[str, float] = {}
    for window in _WINDOWS:
        reset = parse_duration(lower.get(f"x-ratelimit-reset-{window}", ""))
        if reset is not None:
            resets[window] = reset
    exhausted = [w for w in resets if _int(lower.get(f"x-ratelimit-remaining-{w}")) == 0]
    chosen = [resets[w] for w in exhausted] or list(resets.values())
    return max(chosen) if chosen else None


def _seconds_until_rfc3339(value: str, now: datetime) -> float | None:
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None

"""Reading how long to wait from Retry-After, retry-after-ms and the x-ratelimit-* headers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.ratelimit import parse_duration, parse_rate_limit, parse_retry_after

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        # Sample values from OpenAI's rate-limit guide (guides/rate-limits, "headers").
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("0.5s", 0.5),
        ("12", 12.0),
        ("", None),
        ("soon", None),
        ("6m0sx", None),
        ("-3", None),
    ],
)
def test_go_durations_and_bare_seconds_parse(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after({"Retry-After": "30"}, now=NOW) == 30.0


def test_retry_after_as_http_date_is_seconds_from_now() -> None:
    assert parse_retry_after({"retry-after": "Sun, 01 Mar 2026 12:00:45 GMT"}, now=NOW) == 45.0


def test_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after({"retry-after": "Sun, 01 Mar 2026 11:00:00 GMT"}, now=NOW) == 0.0


def test_retry_after_ms_wins_over_retry_after() -> None:
    headers = {"retry-after-ms": "1500", "retry-after": "30"}
    assert parse_retry_after(headers, now=NOW) == 1.5


def test_reset_of_the_exhausted_window_is_used_when_no_retry_after() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "10",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert parse_retry_after(headers, now=NOW) == 360.0
    headers["x-ratelimit-remaining-tokens"] = "5"
    headers["x-ratelimit-remaining-requests"] = "0"
    assert parse_retry_after(headers, now=NOW) == 1.0


def test_longest_reset_when_no_window_says_it_is_exhausted() -> None:
    headers = {"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "2s"}
    assert parse_retry_after(headers, now=NOW) == 2.0


def test_anthropic_rfc3339_resets_are_read() -> None:
    headers = {"anthropic-ratelimit-requests-reset": "2026-03-01T12:00:09Z"}
    assert parse_retry_after(headers, now=NOW) == 9.0


def test_no_usable_header_means_unknown() -> None:
    assert parse_retry_after({"retry-after": "later"}, now=NOW) is None
    assert parse_retry_after({}, now=NOW) is None


def test_quota_snapshot_is_read_from_a_successful_response() -> None:
    snapshot = parse_rate_limit(
        {
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-remaining-requests": "59",
            "x-ratelimit-reset-requests": "1s",
            "x-ratelimit-remaining-tokens": "149984",
            "x-ratelimit-reset-tokens": "6m0s",
        }
    )
    assert snapshot is not None
    assert (snapshot.limit_requests, snapshot.remaining_requests) == (60, 59)
    assert snapshot.reset_tokens_seconds == 360.0
    assert parse_rate_limit({"content-type": "application/json"}) is None

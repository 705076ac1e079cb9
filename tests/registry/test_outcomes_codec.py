"""Outcomes are checked when built (errors name the field) and survive the journal's line
format unchanged, to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.errors import InvalidInputError
from registry.outcomes import Outcome, decode_outcome, encode_outcome
from registry.outcomes.codec import parse_line

REPRODUCIBLE: dict[str, Any] = {"deadline": None, "database": None, "derandomize": True}
BASE: dict[str, Any] = {
    "request_id": "req-1",
    "team_id": 1,
    "endpoint_id": 2,
    "model_version_id": 3,
    "at": datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    "latency_ms": 12.5,
    "success": True,
}

scores = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


@st.composite
def outcomes(draw: st.DrawFn) -> Outcome:
    success = draw(st.booleans())
    return Outcome(
        request_id=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True)),
        team_id=draw(st.integers(1, 2**31 - 1)),
        endpoint_id=draw(st.integers(1, 2**31 - 1)),
        model_version_id=draw(st.integers(1, 2**31 - 1)),
        at=draw(st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1))),
        latency_ms=draw(st.integers(0, 86_400_000_000)) / 1000,
        success=success,
        error_class=None if success else draw(st.sampled_from(["timeout", "rate_limited"])),
        ttft_ms=draw(st.none() | st.integers(0, 10**9).map(lambda us: us / 1000)),
        input_tokens=draw(st.integers(0, 2**31 - 2)),
        output_tokens=draw(st.integers(0, 2**31 - 2)),
        cost_micro_usd=draw(st.integers(0, 2**63 - 1)),
        price_id=draw(st.none() | st.integers(1, 2**31 - 1)),
        routing_key_hash=draw(st.none() | st.integers(-(2**63), 2**63 - 1)),
        quality=draw(st.none() | scores),
        metrics=draw(
            st.dictionaries(
                st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True), scores, max_size=4
            )
        ),
    )


@settings(max_examples=300, **REPRODUCIBLE)
@given(outcomes())
def test_an_outcome_survives_its_line(outcome: Outcome) -> None:
    line = encode_outcome(outcome)
    assert (
        line.endswith(b"\n") and line.count(b"\n") == 1 and b"\\" not in line.replace(b"\\N", b"")
    )
    assert decode_outcome(line) == outcome


def test_times_are_kept_in_utc() -> None:
    local = datetime(2026, 12, 1, 14, 0, 0, 250, tzinfo=timezone(timedelta(hours=2)))
    outcome = Outcome(**{**BASE, "at": local})
    assert outcome.at == local and outcome.at.tzinfo is UTC
    assert parse_line(encode_outcome(outcome))[4] == datetime(
        2026, 12, 1, 12, 0, 0, 250, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"request_id": "has space"}, "request_id"),
        ({"request_id": "x" * 65}, "request_id"),
        ({"team_id": 0}, "team_id"),
        ({"endpoint_id": True}, "endpoint_id"),
        ({"model_version_id": 2**31}, "model_version_id"),
        ({"at": datetime(2026, 12, 1)}, "at"),
        ({"latency_ms": -1.0}, "latency_ms"),
        ({"latency_ms": float("nan")}, "latency_ms"),
        ({"ttft_ms": 1e12}, "ttft_ms"),
        ({"success": False}, "error_class"),
        ({"error_class": "timeout"}, "error_class"),
        ({"success": False, "error_class": "bad class"}, "error_class"),
        ({"success": 1}, "success"),
        ({"input_tokens": -1}, "input_tokens"),
        ({"cost_micro_usd": 1.5}, "cost_micro_usd"),
        ({"price_id": 0}, "price_id"),
        ({"routing_key_hash": 2**63}, "routing_key_hash"),
        ({"quality": float("inf")}, "quality"),
        ({"metrics": {"csat": None}}, "metrics.csat"),
        ({"metrics": {f"m{i}": 1.0 for i in range(33)}}, "metrics"),
    ],
)
def test_a_bad_value_names_its_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        Outcome(**{**BASE, **changes})
    assert raised.value.field == field
    assert field.split(".")[0] in str(raised.value)


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"req-1\t1\n",
        encode_outcome(Outcome(**BASE)).replace(b"\tt\t", b"\tyes\t"),
        encode_outcome(Outcome(**BASE)).replace(b"2026-12-01", b"2026-13-01"),
        b"\xff" + encode_outcome(Outcome(**BASE)),
    ],
)
def test_a_damaged_line_is_refused(line: bytes) -> None:
    with pytest.raises(InvalidInputError) as raised:
        decode_outcome(line)
    assert raised.value.field in {"line", "request_id"}

"""Outcomes as lines of PostgreSQL's COPY text format: the spool's journal and COPY's input.

One line per outcome, the columns of `COLUMNS` separated by tabs, `\\N` for NULL. Every
text field is drawn from a checked alphabet (request ids, error classes, metric names,
JSON of finite numbers), so no field ever holds a tab, newline or backslash and the line
needs no escaping: the writer appends it to its journal and later streams the same bytes
to COPY, with no parsing on the way.
"""

from __future__ import annotations

import json
from datetime import datetime

from registry.errors import InvalidInputError
from registry.outcomes.domain import Outcome

# Bump when COLUMNS change; the spool refuses journals written in another format.
FORMAT = b"modelops-outcomes/2"
COLUMNS = (
    "request_id",
    "team_id",
    "endpoint_id",
    "model_version_id",
    "at",
    "latency_us",
    "ttft_us",
    "success",
    "error_class",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cost_micro_usd",
    "price_id",
    "routing_key_hash",
    "quality",
    "metrics",
    "provider_key_id",
)
NULL = "\\N"


def encode_outcome(outcome: Outcome) -> bytes:
    """One COPY text line, newline included."""
    o, ttft = outcome, outcome.ttft_ms
    metrics = (
        json.dumps(dict(o.metrics), separators=(",", ":"), sort_keys=True) if o.metrics else NULL
    )
    return (
        f"{o.request_id}\t{o.team_id}\t{o.endpoint_id}\t{o.model_version_id}\t"
        f"{o.at.isoformat(' ')}\t{round(o.latency_ms * 1000)}\t"
        f"{NULL if ttft is None else round(ttft * 1000)}\t{'t' if o.success else 'f'}\t"
        f"{o.error_class or NULL}\t{o.input_tokens}\t{o.output_tokens}\t{o.cached_input_tokens}\t"
        f"{o.cost_micro_usd}\t{NULL if o.price_id is None else o.price_id}\t"
        f"{NULL if o.routing_key_hash is None else o.routing_key_hash}\t"
        f"{NULL if o.quality is None else repr(o.quality)}\t{metrics}\t"
        f"{NULL if o.provider_key_id is None else o.provider_key_id}\n"
    ).encode()


Row = tuple[
    str, int, int, int, datetime, int, int | None, bool, str | None,
    int, int, int, int, int | None, int | None, float | None, dict[str, float] | None,
    int | None,
]  # fmt: skip
"""A line's values as stored, in `COLUMNS` order (durations in integer microseconds)."""

_BOOL = {"t": True, "f": False}


def parse_line(line: bytes) -> Row:
    """The stored values of one line; a damaged line raises `InvalidInputError`.

    Light: types and shape only. `decode_outcome` also applies every rule of `Outcome`.
    """
    try:
        f = line.rstrip(b"\n").decode().split("\t")
        if len(f) != len(COLUMNS):
            raise ValueError(f"{len(f)} fields; expected {len(COLUMNS)}")
        at = datetime.fromisoformat(f[4])
        if at.tzinfo is None:
            raise ValueError("the time has no zone")
        return (
            f[0], int(f[1]), int(f[2]), int(f[3]), at, int(f[5]), _int(f[6]), _BOOL[f[7]],
            None if f[8] == NULL else f[8], int(f[9]), int(f[10]), int(f[11]), int(f[12]),
            _int(f[13]), _int(f[14]), None if f[15] == NULL else float(f[15]), _metrics(f[16]),
            _int(f[17]),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"a spooled outcome line is damaged ({exc})", field="line"
        ) from None


def decode_outcome(line: bytes) -> Outcome:
    """The outcome a line holds, checked by every rule of `Outcome`."""
    row = parse_line(line)
    ttft_us = row[6]
    return Outcome(
        request_id=row[0],
        team_id=row[1],
        endpoint_id=row[2],
        model_version_id=row[3],
        at=row[4],
        latency_ms=row[5] / 1000,
        ttft_ms=None if ttft_us is None else ttft_us / 1000,
        success=row[7],
        error_class=row[8],
        input_tokens=row[9],
        output_tokens=row[10],
        cached_input_tokens=row[11],
        cost_micro_usd=row[12],
        price_id=row[13],
        routing_key_hash=row[14],
        quality=row[15],
        metrics=row[16] or {},
        provider_key_id=row[17],
    )


def _int(text: str) -> int | None:
    return None if text == NULL else int(text)


def _metrics(text: str) -> dict[str, float] | None:
    if text == NULL:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("metrics are not a JSON object")
    return value

"""JSON documents people write (catalog options): bounded in size, depth and length, and
free of control characters, so storing and showing one is cheap and safe.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, JsonValue

from registry.text import check_multi_line, check_single_line

MAX_JSON_BYTES = 16 * 1024
MAX_JSON_DEPTH = 8
MAX_JSON_ITEMS = 256  # entries of one list or mapping
MAX_JSON_KEY = 128
MAX_JSON_STRING = 4000


def _check_json_document(document: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """A JSON object within the size, depth and length limits, its text printable."""
    _check_json_value(document, path="", depth=1)
    size = len(json.dumps(document, separators=(",", ":")).encode())
    if size > MAX_JSON_BYTES:
        raise ValueError(f"is {size:,} bytes as JSON; the limit is {MAX_JSON_BYTES:,} bytes")
    return document


def _check_json_value(value: JsonValue, *, path: str, depth: int) -> None:
    where = f"{path}: " if path else ""
    if isinstance(value, str):
        if len(value) > MAX_JSON_STRING:
            raise ValueError(
                f"{where}text is {len(value):,} characters; the limit is {MAX_JSON_STRING:,}"
            )
        _prefixed(where, check_multi_line, value)
        return
    if not isinstance(value, dict | list):
        return
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{where}nested deeper than the limit of {MAX_JSON_DEPTH} levels")
    if len(value) > MAX_JSON_ITEMS:
        raise ValueError(f"{where}has {len(value):,} entries; the limit is {MAX_JSON_ITEMS}")
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(key, str):
            _check_json_key(key, where)
        child = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)
        _check_json_value(item, path=child, depth=depth + 1)


def _check_json_key(key: str, where: str) -> None:
    if len(key) > MAX_JSON_KEY:
        raise ValueError(f"{where}a key is {len(key):,} characters; the limit is {MAX_JSON_KEY}")
    _prefixed(where, check_single_line, key)


def _prefixed(where: str, check: Callable[[str], str], value: str) -> None:
    try:
        check(value)
    except ValueError as exc:
        raise ValueError(f"{where}{exc}") from None


# A JSON object; a problem says where inside it (`a.b[2]: ...`) and which limit.
JsonDocument = Annotated[dict[str, JsonValue], AfterValidator(_check_json_document)]

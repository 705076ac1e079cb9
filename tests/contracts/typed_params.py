"""Checks a JSON value against an official SDK's request TypedDict, strictly: every key must be
one the TypedDict declares, every required key present, every value of the declared type.

The SDKs' own request types are TypedDicts that nothing validates at run time (pydantic would
ignore unknown keys and validate `Iterable` fields lazily), so this walks them directly.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

from typing_extensions import ReadOnly, is_typeddict

__all__ = ["problems"]

_WRAPPERS = {Required, NotRequired, ReadOnly, typing.Annotated}
_SEQUENCES = {list, tuple, collections.abc.Iterable, collections.abc.Sequence}
_MAPPINGS = {dict, collections.abc.Mapping}


def problems(schema: Any, value: Any, path: str = "$") -> list[str]:
    """What in `value` the schema does not allow (empty: it conforms)."""
    origin, args = get_origin(schema), get_args(schema)
    if origin in _WRAPPERS:
        return problems(args[0], value, path)
    if is_typeddict(schema):
        return _typed_dict(schema, value, path)
    if origin in (Union, types.UnionType):
        branches = [problems(branch, value, path) for branch in args]
        return [] if any(not found for found in branches) else min(branches, key=len)
    if origin is Literal:
        return [] if value in args else [f"{path}: {value!r} is not one of {list(args)}"]
    if origin in _SEQUENCES:
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        item = args[0] if args else Any
        return [p for i, v in enumerate(value) for p in problems(item, v, f"{path}[{i}]")]
    if origin in _MAPPINGS:
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        return [p for k, v in value.items() for p in problems(args[1], v, f"{path}.{k}")]
    return _scalar(schema, value, path)


def _typed_dict(schema: Any, value: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {type(value).__name__}"]
    hints = get_type_hints(schema, include_extras=True)
    found = [f"{path}.{key}: not a field of {schema.__name__}" for key in value if key not in hints]
    required = [k for k, hint in hints.items() if _is_required(schema, k, hint)]
    found += [
        f"{path}.{key}: required by {schema.__name__}" for key in required if key not in value
    ]
    for key, item in value.items():
        if key in hints:
            found += problems(hints[key], item, f"{path}.{key}")
    return found


def _is_required(schema: Any, key: str, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is Required:
        return True
    if origin is NotRequired:
        return False
    return bool(getattr(schema, "__total__", True)) and key in schema.__required_keys__


def _scalar(schema: Any, value: Any, path: str) -> list[str]:
    if schema is Any or schema is object:
        return []
    if schema in (None, type(None)):
        return [] if value is None else [f"{path}: expected null"]
    if schema is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif schema is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(schema, type):
        ok = isinstance(value, schema)
    else:
        return [f"{path}: cannot check against {schema!r}"]
    return [] if ok else [f"{path}: {value!r} is not {schema.__name__}"]

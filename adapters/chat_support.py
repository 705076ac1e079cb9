"""What an adapter that cannot send OpenAI's extras refuses, named by field: extra request and
message fields, content parts other than text, roles it has no word for, stream options.
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import JsonValue

from adapters.chat import EXTRA_FIELDS_SENT_BY, ChatRequest, Role

__all__ = ["unsupported_reason"]

# `stream_options.include_usage` is honoured by every streaming adapter: each reports usage.
_STREAM_OPTIONS = frozenset({"include_usage"})


def unsupported_reason(
    request: ChatRequest,
    *,
    kind: str,
    extra_fields: Collection[str] = (),
    roles: Collection[Role] = (Role.SYSTEM, Role.USER, Role.ASSISTANT),
) -> str | None:
    """Why provider kind `kind` cannot send this request as it is, naming the first field at
    fault; None when it can. `extra_fields` are the extras this adapter honours itself."""
    senders = ", ".join(EXTRA_FIELDS_SENT_BY)
    for name, value in request.extra.items():
        if name not in extra_fields:
            return (
                f"extra.{name}: provider kind {kind!r} cannot send this field; "
                f"provider kinds that send extra fields as they are: {senders}"
            )
        if name == "stream_options":
            problem = _stream_options_problem(value)
            if problem:
                return problem
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if message.role not in roles:
            allowed = ", ".join(sorted(r.value for r in roles))
            return f"{where}.role: provider kind {kind!r} takes the roles {allowed}"
        for name in message.extra:
            return (
                f"{where}.{name}: provider kind {kind!r} cannot send this message field; "
                f"provider kinds that send extra fields as they are: {senders}"
            )
        for j, part_type in message.non_text_parts():
            return (
                f"{where}.content[{j}].type: provider kind {kind!r} takes text parts only, "
                f"not {part_type!r}; provider kinds that send other parts: {senders}"
            )
    return None


def _stream_options_problem(value: JsonValue) -> str | None:
    if not isinstance(value, dict):
        return 'extra.stream_options: must be an object such as {"include_usage": true}'
    for name, option in value.items():
        if name not in _STREAM_OPTIONS:
            return f"extra.stream_options.{name}: only include_usage is understood here"
        if not isinstance(option, bool):
            return f"extra.stream_options.{name}: must be true or false"
    return None

"""OpenAI's chat completion request as the gateway reads it: the fields it routes on and the
standard ones checked here so a bad one gets a 400 naming it (`param`, as OpenAI names
them: `messages[0].role`); the body then becomes a ChatRequest through the adapters' own
reader (`adapters.openai.compat`), other OpenAI fields riding along in `extra`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from adapters.chat import ChatRequest, Role
from adapters.openai.compat import chat_request_from_openai
from gateway.errors import ApiError, invalid

ROLES = frozenset(role.value for role in Role)
MAX_MESSAGES = 10_000
MAX_STOP = 4
# A classifier answers a chat with its label (as evaluations ask it), so both are chat.
CHAT_CATEGORIES = ("chat", "classification")


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A checked request: the endpoint it names, how to route it, what to send."""

    endpoint: str
    stream: bool
    include_usage: bool
    user: str | None
    request: ChatRequest  # `model` is the endpoint's name until `for_version`

    def for_version(self, provider_model_id: str) -> ChatRequest:
        return self.request.model_copy(update={"model": provider_model_id})

    def whole_for_version(self, provider_model_id: str) -> ChatRequest:
        """The request unstreamed (a shadow of a stream): without its stream options."""
        extra = {k: v for k, v in self.request.extra.items() if k != "stream_options"}
        return self.request.model_copy(update={"model": provider_model_id, "extra": extra})


def read_chat(body: object) -> ChatCall:
    """The request body as a ChatCall, or an ApiError naming the first bad field."""
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", None)
    endpoint = _string(body, "model", required=True)
    assert endpoint is not None
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise invalid(f"'stream' must be true or false, got {_show(stream)}", "stream")
    _check_messages(body.get("messages"))
    _check_params(body)
    include_usage = _include_usage(body.get("stream_options"), bool(stream))
    try:
        request = chat_request_from_openai(body)
    except ValidationError as exc:
        raise _from_validation(exc) from None
    return ChatCall(
        endpoint=endpoint,
        stream=bool(stream),
        include_usage=include_usage,
        user=_string(body, "user", limit=256),
        request=request,
    )


def check_chat_category(category: str, endpoint: str) -> None:
    if category not in CHAT_CATEGORIES:
        raise ApiError(
            400,
            f"endpoint {endpoint!r} serves {category!r}, not chat; chat completions serve "
            f"{' and '.join(CHAT_CATEGORIES)} endpoints",
            param="model",
            code="wrong_category",
        )


def _check_messages(value: object) -> None:
    if not isinstance(value, list) or not value:
        raise invalid("'messages' must be a non-empty array of messages", "messages")
    if len(value) > MAX_MESSAGES:
        raise invalid(f"'messages' has {len(value)} items; at most {MAX_MESSAGES}", "messages")
    for i, item in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"'{where}' must be an object with 'role' and 'content'", where)
        role = item.get("role")
        if role not in ROLES:
            allowed = ", ".join(r.value for r in Role)
            raise invalid(f"'{where}.role' is {_show(role)}; allowed: {allowed}", f"{where}.role")
        content = item.get("content")
        if content is not None and not isinstance(content, str | list):
            raise invalid(
                f"'{where}.content' must be a string, an array of content parts, or null",
                f"{where}.content",
            )


def _check_params(body: Mapping[str, object]) -> None:
    _number(body, "temperature", 0.0, 2.0)
    _number(body, "top_p", 0.0, 1.0)
    _integer(body, "max_completion_tokens")
    _integer(body, "max_tokens")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise invalid(f"'seed' must be an integer, got {_show(seed)}", "seed")
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop
    if stop is not None and (
        not isinstance(stops, list)
        or not 1 <= len(stops) <= MAX_STOP
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise invalid(f"'stop' must be a string or 1 to {MAX_STOP} non-empty strings", "stop")


def _include_usage(value: object, stream: bool) -> bool:
    if value is None:
        return False
    if not stream:
        raise invalid("'stream_options' is only allowed with 'stream': true", "stream_options")
    if not isinstance(value, dict):
        raise invalid("'stream_options' must be an object", "stream_options")
    usage = value.get("include_usage", False)
    if not isinstance(usage, bool):
        raise invalid(
            "'stream_options.include_usage' must be true or false", "stream_options.include_usage"
        )
    return usage


def _from_validation(exc: ValidationError) -> ApiError:
    """The first problem pydantic found, under OpenAI's name for its place."""
    first = exc.errors()[0]
    # `parts` is where the adapters keep OpenAI's content list: name it as the client did.
    loc = ["content" if part == "parts" else part for part in first["loc"] if part != "extra"]
    param = ""
    for part in loc:
        param += f"[{part}]" if isinstance(part, int) else (f".{part}" if param else str(part))
    message = first["msg"].removeprefix("Value error, ")
    return invalid(f"'{param or 'body'}': {message}", param or None)


def _string(
    body: Mapping[str, object], name: str, *, required: bool = False, limit: int = 256
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"'{name}' is required", name, "missing_required_parameter")
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise invalid(f"'{name}' must be a string of 1 to {limit} characters", name)
    return value


def _number(body: Mapping[str, object], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is not None and (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise invalid(
            f"'{name}' must be a number from {low:g} to {high:g}, got {_show(value)}", name
        )


def _integer(body: Mapping[str, object], name: str) -> None:
    value = body.get(name)
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000
    ):
        raise invalid(f"'{name}' must be an integer from 1 to 1000000, got {_show(value)}", name)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

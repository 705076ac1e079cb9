"""OpenAI's chat completion request and response, read and written by hand: each bad field
gets a 400 naming it (`param`, as OpenAI names them: `messages[0].role`), and nothing costs a
pydantic round trip beyond the adapters' own `ChatRequest`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.chat import ChatMessage, ChatRequest, ChatResponse, Role
from gateway.errors import ApiError, invalid

ROLES = {role.value: role for role in Role}
MAX_MESSAGES = 10_000
MAX_STOP = 4
SUPPORTED = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "stream",
        "stream_options",
        "user",
        "n",
    }
)


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A checked request: the endpoint it names, how to route it, what to send."""

    endpoint: str
    stream: bool
    include_usage: bool
    user: str | None
    messages: tuple[ChatMessage, ...]
    params: dict[str, Any]  # temperature, top_p, max_tokens, stop, seed (those given)

    def request(self, provider_model_id: str) -> ChatRequest:
        return ChatRequest(model=provider_model_id, messages=list(self.messages), **self.params)


def read_chat(body: object) -> ChatCall:
    """The request body as a ChatCall, or an ApiError naming the first bad field."""
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", None)
    unknown = sorted(set(body) - SUPPORTED)
    if unknown:
        raise invalid(
            f"{unknown[0]!r} is not supported by this gateway; supported fields: "
            + ", ".join(sorted(SUPPORTED)),
            unknown[0],
            "unsupported_parameter",
        )
    endpoint = _string(body, "model", required=True)
    assert endpoint is not None
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise invalid(f"'stream' must be true or false, got {_show(stream)}", "stream")
    return ChatCall(
        endpoint=endpoint,
        stream=bool(stream),
        include_usage=_include_usage(body.get("stream_options"), bool(stream)),
        user=_string(body, "user", limit=256),
        messages=_messages(body.get("messages")),
        params=_params(body),
    )


def _messages(value: object) -> tuple[ChatMessage, ...]:
    if not isinstance(value, list) or not value:
        raise invalid("'messages' must be a non-empty array of messages", "messages")
    if len(value) > MAX_MESSAGES:
        raise invalid(f"'messages' has {len(value)} items; at most {MAX_MESSAGES}", "messages")
    return tuple(_message(item, f"messages[{i}]") for i, item in enumerate(value))


def _message(item: object, where: str) -> ChatMessage:
    if not isinstance(item, dict):
        raise invalid(f"'{where}' must be an object with 'role' and 'content'", where)
    role = ROLES.get(item.get("role"))  # type: ignore[arg-type]
    if role is None:
        allowed = ", ".join(ROLES)
        raise invalid(
            f"'{where}.role' is {_show(item.get('role'))}; allowed: {allowed}", f"{where}.role"
        )
    extra = sorted(set(item) - {"role", "content", "name"})
    if extra:
        raise invalid(
            f"'{where}.{extra[0]}' is not supported by this gateway", f"{where}.{extra[0]}"
        )
    return ChatMessage(role=role, content=_content(item.get("content"), f"{where}.content"))


def _content(value: object, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: text only
        texts = []
        for i, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise invalid(f"'{where}[{i}]' must be a text part", f"{where}[{i}]")
            text = part.get("text")
            if not isinstance(text, str):
                raise invalid(f"'{where}[{i}].text' must be a string", f"{where}[{i}].text")
            texts.append(text)
        return "".join(texts)
    raise invalid(f"'{where}' must be a string or an array of text parts", where)


def _params(body: Mapping[str, object]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    temperature = _number(body, "temperature", 0.0, 2.0)
    if temperature is not None:
        params["temperature"] = temperature
    top_p = _number(body, "top_p", 0.0, 1.0)
    if top_p is not None:
        params["top_p"] = top_p
    max_tokens = _integer(body, "max_completion_tokens") or _integer(body, "max_tokens")
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    n = _integer(body, "n")
    if n not in (None, 1):
        raise invalid("'n' must be 1: the gateway returns one choice", "n")
    seed = body.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise invalid(f"'seed' must be an integer, got {_show(seed)}", "seed")
        params["seed"] = seed
    stop = _stop(body.get("stop"))
    if stop is not None:
        params["stop"] = stop
    return params


def _stop(value: object) -> list[str] | None:
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or not 1 <= len(stops) <= MAX_STOP
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise invalid(f"'stop' must be a string or 1 to {MAX_STOP} non-empty strings", "stop")
    return stops


def _include_usage(value: object, stream: bool) -> bool:
    if value is None:
        return False
    if not stream:
        raise invalid("'stream_options' is only allowed with 'stream': true", "stream_options")
    if not isinstance(value, dict) or set(value) - {"include_usage"}:
        raise invalid("'stream_options' may only hold 'include_usage'", "stream_options")
    usage = value.get("include_usage", False)
    if not isinstance(usage, bool):
        raise invalid(
            "'stream_options.include_usage' must be true or false", "stream_options.include_usage"
        )
    return usage


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


def _number(body: Mapping[str, object], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise invalid(
            f"'{name}' must be a number from {low:g} to {high:g}, got {_show(value)}", name
        )
    return float(value)


def _integer(body: Mapping[str, object], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise invalid(f"'{name}' must be an integer from 1 to 1000000, got {_show(value)}", name)
    return value


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- responses ----------------------------------------------------------------------------


def completion(response: ChatResponse, endpoint: str) -> dict[str, Any]:
    """The adapters' answer in OpenAI's `chat.completion` shape, `model` = the endpoint."""
    body: dict[str, Any] = {
        "id": response.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": endpoint,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": response.content, "refusal": None},
                "logprobs": None,
                "finish_reason": response.finish_reason.value,
            }
        ],
    }
    if response.usage is not None:
        body["usage"] = _usage(response)
    return body


def chunks(response: ChatResponse, endpoint: str, include_usage: bool) -> list[dict[str, Any]]:
    """A whole answer as OpenAI's stream of `chat.completion.chunk` objects."""
    base = {"id": response.id, "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = endpoint

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice]}

    out = [
        chunk({"role": "assistant", "content": ""}, None),
        chunk({"content": response.content}, None),
        chunk({}, response.finish_reason.value),
    ]
    if include_usage and response.usage is not None:
        out.append({**base, "choices": [], "usage": _usage(response)})
    return out


def _usage(response: ChatResponse) -> dict[str, int]:
    assert response.usage is not None
    usage = response.usage
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


# A classifier answers a chat with its label (as evaluations ask it), so both are chat.
CHAT_CATEGORIES = ("chat", "classification")


def check_chat_category(category: str, endpoint: str) -> None:
    if category not in CHAT_CATEGORIES:
        raise ApiError(
            400,
            f"endpoint {endpoint!r} serves {category!r}, not chat; chat completions serve "
            f"{' and '.join(CHAT_CATEGORIES)} endpoints",
            param="model",
            code="wrong_category",
        )

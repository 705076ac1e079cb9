"""OpenAI's chat API as a client speaks it, for a server that offers it over any provider: the
request body read into a ChatRequest, and standard answers and chunks written as OpenAI's JSON.

Answers from the `openai` kind need none of the writing: their `raw` is OpenAI's own JSON.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import JsonValue

from adapters.chat import ChatChunk, ChatRequest, ChatResponse, FinishReason, Usage

__all__ = ["chat_request_from_openai", "chunk_to_openai", "completion_to_openai"]

# Read into standard fields; everything else in the body goes to `extra` as it is.
_STANDARD = frozenset({"model", "messages", "temperature", "top_p", "seed", "stop"})
_MESSAGE_STANDARD = frozenset({"role", "content"})
# OpenAI's finish reasons have no "other" (a provider's stop reason without an OpenAI word,
# such as Anthropic's pause_turn): it ended the turn, so it is written as "stop".
_FINISH_WORD = {reason: reason.value for reason in FinishReason} | {FinishReason.OTHER: "stop"}


def chat_request_from_openai(body: Mapping[str, JsonValue]) -> ChatRequest:
    """The ChatRequest a /v1/chat/completions body asks for; pydantic's ValidationError names
    the field at fault. `stream` is the caller's to read (it picks `chat` or
    `open_chat_stream`); `max_completion_tokens` (or legacy `max_tokens`) is `max_tokens`; a
    string `stop` is a list of one."""
    fields: dict[str, JsonValue] = {k: v for k, v in body.items() if k in _STANDARD}
    extra = {k: v for k, v in body.items() if k not in _STANDARD}
    extra.pop("stream", None)
    limit = extra.pop("max_completion_tokens", None)
    legacy = extra.pop("max_tokens", None)
    fields["max_tokens"] = limit if limit is not None else legacy
    if isinstance(fields.get("stop"), str):
        fields["stop"] = [fields["stop"]]
    messages = fields.get("messages")
    if isinstance(messages, list):
        fields["messages"] = [_message(m) for m in messages]
    return ChatRequest.model_validate({**fields, "extra": extra})


def _message(message: JsonValue) -> JsonValue:
    if not isinstance(message, dict):
        return message  # validation names it
    extra = {k: v for k, v in message.items() if k not in _MESSAGE_STANDARD}
    return {**{k: v for k, v in message.items() if k in _MESSAGE_STANDARD}, "extra": extra}


def completion_to_openai(
    response: ChatResponse, *, model: str, created: int
) -> dict[str, JsonValue]:
    """A `chat.completion` body for a standard answer, under the model name the client used."""
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": response.content, "refusal": None},
                "logprobs": None,
                "finish_reason": _FINISH_WORD[response.finish_reason],
            }
        ],
        "usage": _usage(response.usage),
    }


def chunk_to_openai(
    chunk: ChatChunk, *, model: str, created: int, include_usage: bool = False
) -> list[dict[str, JsonValue]]:
    """The `chat.completion.chunk` objects for a standard chunk: its choice (when it says
    anything), then, with `include_usage` and usage present, a usage chunk with no choices —
    as OpenAI sends them. With `include_usage` every choice chunk carries `usage: null`."""
    head: dict[str, JsonValue] = {
        "id": chunk.id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
    }
    out: list[dict[str, JsonValue]] = []
    if chunk.role is not None or chunk.content or chunk.finish_reason is not None:
        delta: dict[str, JsonValue] = {"content": chunk.content} if chunk.content else {}
        if chunk.role is not None:
            delta = {"role": chunk.role.value, "content": chunk.content}
        choice: dict[str, JsonValue] = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": _FINISH_WORD[chunk.finish_reason] if chunk.finish_reason else None,
        }
        out.append({**head, "choices": [choice], **({"usage": None} if include_usage else {})})
    if include_usage and chunk.usage is not None:
        out.append({**head, "choices": [], "usage": _usage(chunk.usage)})
    return out


def _usage(usage: Usage | None) -> JsonValue:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }

"""OpenAI's chat fine-tuning JSONL, read once for every caller: one example per non-blank line,
`{"messages": [..., {"role": "user", ...}, {"role": "assistant", ...}]}`, the final assistant
message being the answer. Errors name the source, the line and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pydantic import ValidationError

from adapters.chat import ChatMessage, Role

__all__ = ["ChatExample", "ChatJsonlError", "parse_chat_examples"]

_EXPECTED = '{"messages": [{"role": "user", "content": …}, {"role": "assistant", "content": …}]}'


class ChatJsonlError(ValueError):
    """The content is not chat fine-tuning JSONL; `line` is None when the whole file is at fault."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True, slots=True)
class ChatExample:
    line: int
    prompt: tuple[ChatMessage, ...]  # every message before the answer
    answer: str  # the final assistant message, verbatim
    sha256: str  # of the line's canonical JSON: the same example whatever its key order or spacing

    @property
    def text(self) -> str:
        """The last user message: what a classifier is asked to label."""
        return next(m.content for m in reversed(self.prompt) if m.role is Role.USER)


def parse_chat_examples(content: bytes, *, source: str) -> list[ChatExample]:
    """Every example of the file, or ChatJsonlError naming `source` and the first bad line."""
    try:
        lines = content.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ChatJsonlError(f"{source} is not UTF-8: {exc}") from exc
    examples = [
        _example(source, number, line) for number, line in enumerate(lines, 1) if line.strip()
    ]
    if not examples:
        raise ChatJsonlError(f"{source} has no examples")
    return examples


def _example(source: str, number: int, line: str) -> ChatExample:
    def bad(problem: str) -> ChatJsonlError:
        return ChatJsonlError(f"{source}, line {number}: {problem}", line=number)

    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise bad(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if isinstance(record, dict) and "messages" not in record:
        raise bad(f"not a chat fine-tuning example (no `messages`); expected {_EXPECTED}")
    raw = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(raw, list) or len(raw) < 2:
        raise bad("needs a `messages` list with a user turn and the final assistant answer")
    try:
        *prompt, answer = [_message(index, message) for index, message in enumerate(raw, 1)]
    except _BadMessage as exc:
        raise bad(str(exc)) from None
    if answer.role is not Role.ASSISTANT or not answer.content.strip():
        raise bad("the last message must be a non-empty assistant answer")
    users = [m for m in prompt if m.role is Role.USER]
    if not users or not users[-1].content.strip():
        raise bad("needs a non-empty user message before the answer")
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return ChatExample(
        line=number,
        prompt=tuple(prompt),
        answer=answer.content,
        sha256=hashlib.sha256(canonical.encode()).hexdigest(),
    )


class _BadMessage(Exception):
    """What is wrong with one message; the caller adds the source and line."""


def _message(index: int, raw: object) -> ChatMessage:
    if not isinstance(raw, dict):
        raise _BadMessage(f"message {index} is not an object")
    try:
        # Other keys of the format (`name`, `weight`) do not change what is asked or answered.
        return ChatMessage.model_validate({"role": raw.get("role"), "content": raw.get("content")})
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "message"
        raise _BadMessage(f"message {index}, {field}: {problem['msg']}") from None

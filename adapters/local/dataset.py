"""Reading OpenAI's chat fine-tuning JSONL as (text, label) examples, and counting tokens.

One line per example: `{"messages": [..., {"role": "user", ...}, {"role": "assistant", ...}]}`.
The text is the last user message, the label the final assistant message, both taken verbatim.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["DatasetError", "Example", "count_tokens", "parse_chat_jsonl"]

# The documented tokenizer for usage figures: runs of word characters, and each other
# non-space character on its own ("can't stop!" → can ' t stop ! = 5 tokens).
_TOKEN = re.compile(r"\w+|[^\w\s]")
_MAX_LABEL_CHARS = 200


class DatasetError(ValueError):
    """The file is not chat fine-tuning JSONL; the message names the first bad line."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def parse_chat_jsonl(content: bytes) -> list[Example]:
    """Every example of the file, or DatasetError naming the line and what is wrong with it."""
    try:
        lines = content.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"file is not UTF-8: {exc}") from exc
    examples = [_example(number, line) for number, line in enumerate(lines, 1) if line.strip()]
    if not examples:
        raise DatasetError("file has no examples")
    return examples


def _example(number: int, line: str) -> Example:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"line {number}: not JSON ({exc.msg})") from exc
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or len(messages) < 2:
        raise DatasetError(f"line {number}: needs a `messages` list with a user and assistant turn")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise DatasetError(f"line {number}: every message needs a string `content`")
        if message.get("role") not in {"system", "user", "assistant"}:
            raise DatasetError(f"line {number}: role must be system, user or assistant")
    if messages[-1]["role"] != "assistant":
        raise DatasetError(f"line {number}: the last message must be the assistant's label")
    users = [m["content"] for m in messages[:-1] if m["role"] == "user"]
    label = messages[-1]["content"]
    if not users or not users[-1].strip():
        raise DatasetError(f"line {number}: needs a non-empty user message before the label")
    if not label.strip() or len(label) > _MAX_LABEL_CHARS:
        raise DatasetError(f"line {number}: the label must be 1-{_MAX_LABEL_CHARS} characters")
    return Example(text=users[-1], label=label)

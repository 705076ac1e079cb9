"""The local classifier's view of chat fine-tuning JSONL as (text, label) examples, and counting
tokens. The text is the last user message, the label the final assistant message, both verbatim;
the format itself is read by `adapters.chat_jsonl`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.chat_jsonl import ChatJsonlError, parse_chat_examples

__all__ = ["DatasetError", "Example", "count_tokens", "parse_chat_jsonl"]

# The documented tokenizer for usage figures: runs of word characters, and each other
# non-space character on its own ("can't stop!" → can ' t stop ! = 5 tokens).
_TOKEN = re.compile(r"\w+|[^\w\s]")
# Labels are class names, not free text: a long answer means the file is for a chat model.
_MAX_LABEL_CHARS = 200

DatasetError = ChatJsonlError


@dataclass(frozen=True)
class Example:
    text: str
    label: str


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def parse_chat_jsonl(content: bytes, *, source: str = "file") -> list[Example]:
    """Every example of the file, or DatasetError naming the line and what is wrong with it."""
    examples = parse_chat_examples(content, source=source)
    for example in examples:
        if len(example.answer) > _MAX_LABEL_CHARS:
            raise DatasetError(
                f"{source}, line {example.line}: the label must be 1-{_MAX_LABEL_CHARS} characters",
                line=example.line,
            )
    return [Example(text=example.text, label=example.answer) for example in examples]

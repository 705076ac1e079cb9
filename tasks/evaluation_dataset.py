"""Eval datasets: OpenAI chat JSONL read into examples with an expected answer and a hash each.

The expected answer is the final assistant message; the prompt is every message before it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import Field

from adapters.chat import ChatMessage, Role
from adapters.chat_jsonl import ChatJsonlError, parse_chat_examples
from registry.domain import Frozen


class EvalDatasetError(ValueError):
    """The eval file is missing or is not chat JSONL; the message names the path and line."""


class EvalExample(Frozen):
    position: int = Field(ge=0, description="Index among the file's examples.")
    line: int = Field(ge=1)
    sha256: str = Field(description="Hash of the line's canonical JSON: pairs runs by example.")
    prompt: list[ChatMessage] = Field(min_length=1)
    expected: str

    @property
    def text(self) -> str:
        """The last user message: what a classifier is asked to label."""
        return next(m.content for m in reversed(self.prompt) if m.role is Role.USER)


class EvalDataset(Frozen):
    name: str
    uri: str
    sha256: str
    examples: list[EvalExample] = Field(min_length=1)


def read_eval_dataset(path: str) -> EvalDataset:
    """Read and check the whole file before anything runs; errors name the path and line."""
    resolved = Path(path).expanduser().resolve()
    try:
        content = resolved.read_bytes()
    except FileNotFoundError:
        raise EvalDatasetError(
            f"eval dataset not found: {resolved} (from dataset={path!r}; relative paths are "
            f"read from {Path.cwd()})"
        ) from None
    except OSError as exc:
        raise EvalDatasetError(f"eval dataset {resolved} cannot be read: {exc}") from exc
    return EvalDataset(
        name=resolved.name,
        uri=resolved.as_uri(),
        sha256=hashlib.sha256(content).hexdigest(),
        examples=parse_eval_jsonl(content, source=str(resolved)),
    )


def parse_eval_jsonl(content: bytes, *, source: str) -> list[EvalExample]:
    """Every example of the file, or EvalDatasetError naming the first bad line."""
    try:
        examples = parse_chat_examples(content, source=f"eval dataset {source}")
    except ChatJsonlError as exc:
        raise EvalDatasetError(str(exc)) from exc
    return [
        EvalExample(
            position=position,
            line=example.line,
            sha256=example.sha256,
            prompt=list(example.prompt),
            expected=example.answer,
        )
        for position, example in enumerate(examples)
    ]

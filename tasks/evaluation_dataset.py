"""Eval datasets: OpenAI chat JSONL read into examples with an expected answer and a hash each.

The expected answer is the final assistant message; the prompt is every message before it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import Field, ValidationError

from adapters.chat import ChatMessage, Role
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
        lines = content.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise EvalDatasetError(f"eval dataset {source} is not UTF-8: {exc}") from exc
    examples: list[EvalExample] = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            examples.append(_example(len(examples), number, line, source))
    if not examples:
        raise EvalDatasetError(f"eval dataset {source} has no examples")
    return examples


def _message(where: str, index: int, raw: object) -> ChatMessage:
    if not isinstance(raw, dict):
        raise EvalDatasetError(f"{where}: message {index} is not an object")
    try:
        # Other keys of the format (`name`, `weight`) do not change what is asked or expected.
        return ChatMessage.model_validate({"role": raw.get("role"), "content": raw.get("content")})
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "message"
        raise EvalDatasetError(f"{where}: message {index}, {field}: {problem['msg']}") from None


def _example(position: int, number: int, line: str, source: str) -> EvalExample:
    where = f"eval dataset {source}, line {number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EvalDatasetError(f"{where}: not JSON ({exc.msg}, column {exc.colno})") from None
    raw = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(raw, list) or len(raw) < 2:
        raise EvalDatasetError(
            f"{where}: needs a `messages` list with a user turn and the expected assistant answer"
        )
    messages = [_message(where, index, message) for index, message in enumerate(raw, 1)]
    *prompt, answer = messages
    if answer.role is not Role.ASSISTANT or not answer.content.strip():
        raise EvalDatasetError(f"{where}: the last message must be the expected assistant answer")
    users = [m for m in prompt if m.role is Role.USER]
    if not users or not users[-1].content.strip():
        raise EvalDatasetError(f"{where}: needs a non-empty user message before the answer")
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return EvalExample(
        position=position,
        line=number,
        sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        prompt=prompt,
        expected=answer.content,
    )

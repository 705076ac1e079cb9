"""Training datasets: check a chat fine-tuning JSONL file before anything is uploaded.

A file passes when every line is an OpenAI chat fine-tuning example ending in the assistant's
answer, it holds at least MIN_EXAMPLES of them, and (for classification models) every label
has at least MIN_PER_LABEL examples. The report carries the file's sha256 for the lineage.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from adapters.chat_jsonl import ChatJsonlError, parse_chat_examples
from registry.domain import Frozen

# OpenAI refuses a fine-tuning file with fewer than 10 examples
# (platform.openai.com/docs/guides/fine-tuning, "Example count recommendations").
MIN_EXAMPLES = 10
# A label seen once can be learned or held out, not both; fail rather than train blind.
MIN_PER_LABEL = 2
# Warn when the commonest label outnumbers the rarest by more than this.
IMBALANCE_RATIO = 10.0


class DatasetError(ValueError):
    """The training file is missing or unusable; the message names the path and line."""


class DatasetReport(Frozen):
    """What the flow records about the file: where it is, its hash, and what it holds."""

    name: str
    uri: str
    path: str
    sha256: str
    bytes: int = Field(ge=0)
    examples: int = Field(ge=1)
    labels: dict[str, int] = Field(
        default_factory=dict, description="Examples per label (classification models only)."
    )
    warnings: list[str] = Field(default_factory=list)


def read_training_file(path: str, *, classification: bool) -> DatasetReport:
    """Check the whole file; DatasetError names what is wrong and where."""
    resolved = Path(path).expanduser().resolve()
    try:
        content = resolved.read_bytes()
    except FileNotFoundError:
        raise DatasetError(
            f"training dataset not found: {resolved} (from dataset={path!r}; relative "
            f"paths are read from {Path.cwd()})"
        ) from None
    except OSError as exc:
        raise DatasetError(f"training dataset {resolved} cannot be read: {exc}") from exc
    answers = parse_answers(content, source=str(resolved))
    counts = Counter(answers)
    if len(answers) < MIN_EXAMPLES:
        raise DatasetError(
            f"training dataset {resolved} has {len(answers)} examples; a fine-tune needs at "
            f"least {MIN_EXAMPLES}"
        )
    labels = dict(sorted(counts.items())) if classification else {}
    return DatasetReport(
        name=resolved.name,
        uri=resolved.as_uri(),
        path=str(resolved),
        sha256=hashlib.sha256(content).hexdigest(),
        bytes=len(content),
        examples=len(answers),
        labels=labels,
        warnings=check_balance(labels, source=str(resolved)),
    )


def parse_answers(content: bytes, *, source: str) -> list[str]:
    """The final assistant message of every example, or DatasetError naming the first bad line."""
    try:
        examples = parse_chat_examples(content, source=f"training dataset {source}")
    except ChatJsonlError as exc:
        raise DatasetError(str(exc)) from exc
    return [example.answer for example in examples]


def check_balance(labels: dict[str, int], *, source: str) -> list[str]:
    """Fail on labels too rare to learn; warn when the labels are badly unbalanced."""
    rare = {label: count for label, count in labels.items() if count < MIN_PER_LABEL}
    if rare:
        listed = ", ".join(f"{label!r} ({count})" for label, count in sorted(rare.items()))
        raise DatasetError(
            f"training dataset {source}: each label needs at least {MIN_PER_LABEL} examples; "
            f"too few for {listed}. Add examples or drop those lines"
        )
    if not labels:
        return []
    most, least = max(labels.values()), min(labels.values())
    if most > IMBALANCE_RATIO * least:
        rarest = min(labels, key=lambda label: labels[label])
        return [
            f"labels are unbalanced: the commonest has {most} examples, {rarest!r} only {least}"
        ]
    return []


@task(cache_policy=NO_CACHE)
def validate_dataset(path: str, category: str) -> DatasetReport:
    """Format, size and label balance of the training file, with its sha256. Never retried:
    bad input stays bad."""
    return read_training_file(path, classification=category == "classification")

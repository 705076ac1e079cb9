"""The example dataset is what its checked-in script generates, in the format the adapter reads."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from adapters.local.dataset import parse_chat_jsonl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = ("base.jsonl", "train.jsonl", "eval.jsonl")


def test_the_generator_reproduces_the_checked_in_files_byte_for_byte(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(EXAMPLES / "make_support_dataset.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (EXAMPLES / "support_tickets" / name).read_bytes()


def test_the_splits_are_chat_fine_tuning_jsonl_with_balanced_intents() -> None:
    sizes = {}
    for name in FILES:
        examples = parse_chat_jsonl((EXAMPLES / "support_tickets" / name).read_bytes())
        sizes[name] = len(examples)
        if name == "eval.jsonl":
            counts = Counter(e.label for e in examples)
            assert len(counts) == 8 and set(counts.values()) == {80}
    assert sizes == {"base.jsonl": 240, "train.jsonl": 2400, "eval.jsonl": 640}

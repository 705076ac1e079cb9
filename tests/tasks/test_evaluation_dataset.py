"""Eval JSONL: what becomes an example, and the errors that name the path and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.chat import Role
from tasks.evaluation_dataset import EvalDatasetError, parse_eval_jsonl, read_eval_dataset

SYSTEM = {"role": "system", "content": "Classify the ticket."}


def _line(user: str, answer: str, *, extra: list[dict[str, str]] | None = None) -> str:
    messages = [SYSTEM, *(extra or []), {"role": "user", "content": user}]
    return json.dumps({"messages": [*messages, {"role": "assistant", "content": answer}]})


def test_expected_answer_is_the_final_assistant_message_and_the_prompt_is_everything_before() -> (
    None
):
    earlier = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    [example] = parse_eval_jsonl(_line("refund me", "refund", extra=earlier).encode(), source="x")

    assert example.expected == "refund"
    assert [m.role for m in example.prompt] == [Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.USER]
    assert example.text == "refund me"  # what a classifier is asked: the last user message


def test_other_message_keys_of_the_format_are_accepted_and_ignored() -> None:
    line = '{"messages": [{"role": "user", "content": "x", "name": "bob"}, {"role": "assistant", "content": "y", "weight": 1}]}'
    [example] = parse_eval_jsonl(line.encode(), source="x")

    assert (example.text, example.expected) == ("x", "y")


def test_blank_lines_are_skipped_but_line_numbers_still_count_them() -> None:
    content = "\n".join(["", _line("a", "billing"), "   ", _line("b", "login")]).encode()
    examples = parse_eval_jsonl(content, source="x")

    assert [(e.position, e.line, e.expected) for e in examples] == [
        (0, 2, "billing"),
        (1, 4, "login"),
    ]


def test_example_hash_ignores_key_order_and_spacing_but_not_content() -> None:
    record = json.loads(_line("where is my parcel", "shipping"))
    reordered = json.dumps(
        {"messages": [dict(reversed(m.items())) for m in record["messages"]]},
        indent=None,
        separators=(", ", " : "),
    )
    changed = _line("where is my parcel?", "shipping")
    hashes = [
        parse_eval_jsonl(text.encode(), source="x")[0].sha256
        for text in (json.dumps(record), reordered, changed)
    ]

    assert hashes[0] == hashes[1] != hashes[2]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"messages": [', "line 2: not JSON"),
        ('["not", "an", "object"]', "line 2: needs a `messages` list"),
        ('{"messages": [{"role": "user", "content": "x"}]}', "line 2: needs a `messages` list"),
        (
            '{"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}',
            "line 2: message 1, role: Input should be 'system', 'developer', 'user', 'assistant' or 'tool'",
        ),
        (
            '{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "y"}]}',
            "line 2: message 1, content: Input should be a valid string",
        ),
        (
            '{"messages": ["hello", {"role": "assistant", "content": "y"}]}',
            "line 2: message 1 is not an object",
        ),
        (
            '{"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}]}',
            "line 2: the last message must be a non-empty assistant answer",
        ),
        (
            '{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "  "}]}',
            "line 2: the last message must be a non-empty assistant answer",
        ),
        (
            '{"messages": [{"role": "system", "content": "x"}, {"role": "assistant", "content": "y"}]}',
            "line 2: needs a non-empty user message",
        ),
    ],
)
def test_a_bad_line_is_refused_naming_the_file_and_line(line: str, problem: str) -> None:
    content = "\n".join([_line("fine", "billing"), line, _line("also fine", "login")]).encode()

    with pytest.raises(EvalDatasetError, match=f"eval dataset data/eval.jsonl, {problem}"):
        parse_eval_jsonl(content, source="data/eval.jsonl")


def test_a_file_without_examples_or_not_utf8_is_refused() -> None:
    with pytest.raises(EvalDatasetError, match="has no examples"):
        parse_eval_jsonl(b"\n \n", source="empty.jsonl")
    with pytest.raises(EvalDatasetError, match="is not UTF-8"):
        parse_eval_jsonl(b"\xff\xfe", source="latin.jsonl")


def test_reading_a_file_hashes_its_bytes_and_names_it_by_its_resolved_path(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    path.write_text(_line("a", "billing") + "\n")
    dataset = read_eval_dataset(str(path))

    assert (dataset.name, dataset.uri) == ("eval.jsonl", path.as_uri())
    assert dataset.sha256 == __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_a_missing_file_is_an_error_naming_the_resolved_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        EvalDatasetError,
        match=f"not found: {tmp_path / 'sets' / 'eval.jsonl'} .*read from {tmp_path}",
    ):
        read_eval_dataset("sets/eval.jsonl")

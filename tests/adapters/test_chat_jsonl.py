"""Chat fine-tuning JSONL, read once: what an example is, and errors naming the source and line."""

from __future__ import annotations

import json
import pickle

import pytest

from adapters.chat import Role
from adapters.chat_jsonl import ChatJsonlError, parse_chat_examples
from adapters.local.dataset import DatasetError, parse_chat_jsonl


def _line(user: str, answer: str) -> str:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return json.dumps({"messages": messages})


def test_an_example_is_its_prompt_its_final_assistant_answer_and_its_line() -> None:
    content = "\n".join(["", _line("where is my parcel", "shipping")]).encode()
    [example] = parse_chat_examples(content, source="x")

    assert (example.line, example.text, example.answer) == (2, "where is my parcel", "shipping")
    assert [m.role for m in example.prompt] == [Role.USER]


def test_a_bad_line_is_an_error_carrying_its_number_and_naming_the_source() -> None:
    content = "\n".join([_line("a", "billing"), '{"prompt": "x", "completion": "y"}']).encode()
    with pytest.raises(ChatJsonlError, match=r"^data/t\.jsonl, line 2: not a chat") as refused:
        parse_chat_examples(content, source="data/t.jsonl")

    assert refused.value.line == 2
    assert str(pickle.loads(pickle.dumps(refused.value))) == str(refused.value)


def test_the_local_classifier_refuses_answers_too_long_to_be_labels() -> None:
    content = "\n".join([_line("a", "billing"), _line("b", "x" * 201)]).encode()
    with pytest.raises(DatasetError, match="line 2: the label must be 1-200 characters"):
        parse_chat_jsonl(content)

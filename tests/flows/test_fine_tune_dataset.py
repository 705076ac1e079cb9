"""Bad training data fails the fine-tune flow with a clear message, before anything changes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from adapters.errors import BadRequestError, ModelUnavailableError, RateLimitedError
from dispatch.providers import BudgetExhaustedError, NoUsableKeyError
from flows.fine_tune import fine_tune
from flows.params import FineTuneParams
from registry.errors import ConflictError, NotFoundError
from tasks.catalog import sync_catalog
from tasks.dataset import DatasetError, read_training_file
from tasks.retry import is_transient
from tests.flows.finetune_support import DATA, MODEL, Env, flow_env, sha256_of
from tests.support.prefect_server import PrefectServer

__all__ = ["flow_env"]


def _line(text: str, label: str) -> str:
    messages = [{"role": "user", "content": text}, {"role": "assistant", "content": label}]
    return json.dumps({"messages": messages}) + "\n"


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines))
    return path


def _balanced(count: int) -> list[str]:
    return [_line(f"ticket {n}", "billing" if n % 2 else "refund") for n in range(count)]


def test_a_good_file_is_reported_with_its_hash_and_label_counts() -> None:
    report = read_training_file(str(DATA / "train.jsonl"), classification=True)

    assert (report.examples, report.sha256) == (2400, sha256_of(DATA / "train.jsonl"))
    assert report.uri == (DATA / "train.jsonl").as_uri()
    assert sum(report.labels.values()) == 2400 and len(report.labels) == 8
    assert report.warnings == []


def test_chat_models_get_no_label_rules(tmp_path: Path) -> None:
    answers = [_line(f"question {n}", f"a different answer {n}") for n in range(10)]
    report = read_training_file(str(_write(tmp_path / "chat.jsonl", answers)), classification=False)

    assert (report.examples, report.labels) == (10, {})


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([*_balanced(4), "{not json\n", *_balanced(8)], r"line 5: not JSON"),
        ([*_balanced(2), '{"prompt": "x", "completion": "y"}\n'], r"line 3: not a chat .*messages"),
        (
            [json.dumps({"messages": [{"role": "assistant", "content": "x"}] * 2}) + "\n"],
            r"line 1: needs a non-empty user message",
        ),
        (
            [*_balanced(11), json.dumps({"messages": [{"role": "user", "content": "x"}] * 2})],
            r"line 12: the last message must be a non-empty assistant answer",
        ),
        (_balanced(9), r"has 9 examples; a fine-tune needs at least 10"),
        (
            [*_balanced(10), _line("where is my parcel", "shipping")],
            r"each label needs at least 2 examples; too few for 'shipping' \(1\)",
        ),
    ],
    ids=["not-json", "not-chat", "no-user", "no-answer", "too-few", "rare-label"],
)
def test_bad_files_are_refused_naming_the_line(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = _write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DatasetError, match=message) as refused:
        read_training_file(str(path), classification=True)
    assert str(path) in str(refused.value)


def test_unbalanced_labels_are_a_warning(tmp_path: Path) -> None:
    lines = [_line(f"bill {n}", "billing") for n in range(30)]
    lines += [_line(f"refund {n}", "refund") for n in range(2)]
    report = read_training_file(str(_write(tmp_path / "skewed.jsonl", lines)), classification=True)

    assert report.labels == {"billing": 30, "refund": 2}
    assert report.warnings == [
        "labels are unbalanced: the commonest has 30 examples, 'refund' only 2"
    ]


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (RateLimitedError("slow down", provider="openai", retry_after=2), True),
        (ModelUnavailableError("503", provider="openai", status_code=503), True),
        (BudgetExhaustedError("every key is cooling", []), True),
        (ConflictError("a twin claimed the job first"), True),
        (BadRequestError("bad file", provider="openai", status_code=400), False),
        (NoUsableKeyError("no key for openai", []), False),
        (DatasetError("line 3: not JSON"), False),
        (NotFoundError("no model 'x'"), False),
    ],
)
def test_only_transient_faults_are_retried(error: Exception, retried: bool) -> None:
    assert is_transient(error) is retried


@pytest.fixture
def synced(prefect_api: PrefectServer, flow_env: Env) -> Env:
    sync_catalog.fn()
    return flow_env


@pytest.mark.parametrize(
    ("name", "lines", "message"),
    [
        ("missing.jsonl", None, r"training dataset not found: .*missing\.jsonl"),
        ("malformed.jsonl", [*_balanced(6), "{oops\n"], r"malformed\.jsonl, line 7: not JSON"),
        ("small.jsonl", _balanced(3), r"small\.jsonl has 3 examples"),
    ],
    ids=["missing", "malformed", "too-few"],
)
def test_a_bad_dataset_fails_the_flow_and_changes_nothing(
    synced: Env, tmp_path: Path, name: str, lines: list[str] | None, message: str
) -> None:
    path = tmp_path / name if lines is None else _write(tmp_path / name, lines)
    params = FineTuneParams(model=MODEL, dataset=str(path))

    with pytest.raises(DatasetError, match=message):
        asyncio.run(fine_tune(params))

    assert synced.job_rows() == []
    assert synced.uploaded_files() == []
    assert synced.local_jobs() == []
    assert synced.versions() == []

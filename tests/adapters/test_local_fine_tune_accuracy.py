"""A local fine-tune really changes the model: accuracy on the held-out eval split goes up.

Version 1 is `tfidf-logreg` fine-tuned on base.jsonl (240 narrow, noisily labelled tickets);
version 2 is version 1 fine-tuned on train.jsonl (it starts from its parent's data).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.base import Credential
from adapters.chat import ClassificationRequest
from adapters.jobs import FilePurpose, FineTuneRequest, JobStatus
from adapters.local.adapter import LocalAdapter
from adapters.local.dataset import parse_chat_jsonl

pytestmark = pytest.mark.anyio

DATA = Path(__file__).resolve().parents[2] / "examples" / "support_tickets"
NO_KEY = Credential()


async def _fine_tune(adapter: LocalAdapter, parent: str, data: str, key: str) -> str:
    uploaded = await adapter.upload_file(NO_KEY, DATA / data, FilePurpose.FINE_TUNE)
    request = FineTuneRequest(
        model=parent, training_file=uploaded.id, seed=1, suffix="support", idempotency_key=key
    )
    job = await adapter.wait_for_fine_tune((await adapter.create_fine_tune(NO_KEY, request)).id)
    assert job.status is JobStatus.SUCCEEDED and job.trained_model_id, job.error
    return job.trained_model_id


async def _accuracy(adapter: LocalAdapter, model_id: str) -> float:
    examples = parse_chat_jsonl((DATA / "eval.jsonl").read_bytes())
    hits = 0
    for example in examples:
        request = ClassificationRequest(model=model_id, text=example.text)
        hits += (await adapter.classify(NO_KEY, request)).label == example.label
    return hits / len(examples)


async def test_fine_tuning_on_more_data_raises_eval_accuracy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    adapter = LocalAdapter(tmp_path)
    v1 = await _fine_tune(adapter, "tfidf-logreg", "base.jsonl", "support-intent-v1")
    v2 = await _fine_tune(adapter, v1, "train.jsonl", "support-intent-v2")
    before, after = await _accuracy(adapter, v1), await _accuracy(adapter, v2)
    with capsys.disabled():
        print(
            f"\nlocal fine-tune on examples/support_tickets/eval.jsonl (640 tickets): "
            f"v1 {v1} accuracy {before:.4f}; v2 {v2} accuracy {after:.4f}; "
            f"change {after - before:+.4f}"
        )
    assert adapter.model_manifest(v2).parent_model_id == v1
    assert adapter.model_manifest(v2).examples == 240 + 2400
    assert before < 0.80
    assert after > 0.85
    assert after - before > 0.10

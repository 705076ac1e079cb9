"""A local fine-tune really changes the model, and starts from its parent: accuracy on the
held-out eval split goes up, and the child's training begins at the parent's weights.

Version 1 is `tfidf-logreg` fine-tuned on base.jsonl (240 narrow, noisily labelled tickets);
version 2 is version 1 fine-tuned on train.jsonl.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import SGDClassifier

from adapters.base import Credential
from adapters.chat import ClassificationRequest
from adapters.jobs import FilePurpose, FineTuneRequest, Hyperparameters, JobStatus
from adapters.local import model as local_model
from adapters.local.adapter import LocalAdapter
from adapters.local.dataset import Example, parse_chat_jsonl

pytestmark = pytest.mark.anyio

DATA = Path(__file__).resolve().parents[2] / "examples" / "support_tickets"
NO_KEY = Credential()
Matrix = np.ndarray


async def _fine_tune(
    adapter: LocalAdapter, parent: str, data: str, key: str, **hyperparameters: float
) -> str:
    uploaded = await adapter.upload_file(NO_KEY, DATA / data, FilePurpose.FINE_TUNE)
    request = FineTuneRequest(
        model=parent,
        training_file=uploaded.id,
        hyperparameters=Hyperparameters.model_validate(hyperparameters),
        seed=1,
        suffix="support",
        idempotency_key=key,
    )
    job = await adapter.wait_for_fine_tune((await adapter.create_fine_tune(NO_KEY, request)).id)
    assert job.status is JobStatus.SUCCEEDED and job.trained_model_id, job.error
    return job.trained_model_id


def _model(adapter: LocalAdapter, model_id: str) -> local_model.TextClassifier:
    return local_model.loads(adapter.artifact_path(model_id).read_bytes())


def _labels(adapter: LocalAdapter, model_id: str) -> list[str]:
    classifier = _model(adapter, model_id)
    return [
        classifier.predict(e.text) for e in parse_chat_jsonl((DATA / "eval.jsonl").read_bytes())
    ]


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
    assert adapter.model_manifest(v2).examples == 2400  # its own file; v1 comes as weights
    assert before < 0.80
    assert after > 0.85
    assert after - before > 0.10


async def test_a_fine_tune_starts_from_its_parents_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = LocalAdapter(tmp_path)
    v1 = await _fine_tune(adapter, "tfidf-logreg", "base.jsonl", "support-intent-v1")
    starts = _record_starting_weights(monkeypatch)

    v2 = await _fine_tune(adapter, v1, "train.jsonl", "support-intent-v2")
    scratch = await _fine_tune(adapter, "tfidf-logreg", "train.jsonl", "from-scratch")

    parent = _model(adapter, v1)
    (child_coef, child_intercept), (scratch_coef, scratch_intercept) = starts
    np.testing.assert_array_equal(child_coef, parent.weights.coef)
    np.testing.assert_array_equal(child_intercept, parent.weights.intercept)
    assert not scratch_coef.any() and not scratch_intercept.any()  # from scratch: zeros
    np.testing.assert_array_equal(_model(adapter, v2).tfidf.idf_, parent.tfidf.idf_)
    # Same data, seed and hyperparameters; only the starting point differs.
    trained_from_parent, trained_from_scratch = _model(adapter, v2), _model(adapter, scratch)
    assert not np.allclose(trained_from_parent.weights.coef, trained_from_scratch.weights.coef)
    assert _labels(adapter, v2) != _labels(adapter, scratch)


async def test_a_fine_tune_with_a_tiny_step_stays_at_its_parent(tmp_path: Path) -> None:
    adapter = LocalAdapter(tmp_path)
    v1 = await _fine_tune(adapter, "tfidf-logreg", "base.jsonl", "support-intent-v1")
    still = await _fine_tune(
        adapter, v1, "train.jsonl", "tiny-step", n_epochs=1, learning_rate_multiplier=1e-6
    )
    parent, child = _model(adapter, v1), _model(adapter, still)
    assert np.abs(child.weights.coef - parent.weights.coef).max() < 1e-3
    assert _labels(adapter, still) == _labels(adapter, v1)


def _record_starting_weights(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Matrix, Matrix]]:
    """The weights each SGDClassifier holds when its first `partial_fit` begins."""
    starts: list[tuple[Matrix, Matrix]] = []
    partial_fit = SGDClassifier.partial_fit

    def spy(self: SGDClassifier, *args: object, **kwargs: object) -> SGDClassifier:
        if not hasattr(self, "t_"):  # set by the first partial_fit
            starts.append((self.coef_.copy(), self.intercept_.copy()))
        return partial_fit(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SGDClassifier, "partial_fit", spy)
    return starts


def test_a_two_label_parent_carries_over_into_a_child_with_a_new_label() -> None:
    # scikit-learn keeps one row for two labels; the child's one-vs-rest rows start from it.
    tickets = [("refund my order", "refund"), ("the app crashes on save", "bug_report")]
    parent_data = [Example(f"{text} {n}", label) for n in range(20) for text, label in tickets]
    config = local_model.TrainingConfig(n_epochs=4, learning_rate_multiplier=1.0, seed=3)
    parent = local_model.train(parent_data, config)
    assert parent is not None and parent.weights.coef.shape[0] == 1

    tiny = local_model.TrainingConfig(n_epochs=1, learning_rate_multiplier=1e-9, seed=3)
    new = [Example(f"please add dark mode {n}", "feature_request") for n in range(5)]
    child = local_model.train(new, tiny, parent=parent)

    assert child is not None and child.labels == ("bug_report", "feature_request", "refund")
    for text in ("refund my order now", "the app crashes on save again"):
        before, after = parent.probabilities(text), child.probabilities(text)
        # The odds between the parent's two labels are the parent's: sigmoid(z) / sigmoid(-z).
        odds = before["refund"] / before["bug_report"]
        assert after["refund"] / after["bug_report"] == pytest.approx(odds, rel=1e-3)

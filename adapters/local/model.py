"""The local model: TF-IDF features and a multinomial logistic regression trained by SGD.

OpenAI's hyperparameters keep their meaning: `n_epochs` passes over the data, `batch_size`
examples per gradient step, `learning_rate_multiplier` scales the step size (1.0 → 2.0).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from adapters.jobs import Hyperparameters
from adapters.local.dataset import Example

if TYPE_CHECKING:
    from sklearn.pipeline import FeatureUnion

__all__ = [
    "AUTO_BATCH_SIZE",
    "AUTO_EPOCHS",
    "BASE_MODEL",
    "EpochMetrics",
    "TextClassifier",
    "TrainingConfig",
    "dumps",
    "loads",
    "resolve",
    "train",
]

BASE_MODEL = "tfidf-logreg"
AUTO_EPOCHS = 8
AUTO_BATCH_SIZE = 16
_BASE_STEP = 2.0
_L2 = 1e-5
Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters with "auto" resolved, as recorded on the job and the model."""

    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    seed: int


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    train_loss: float
    train_accuracy: float
    valid_loss: float | None = None
    valid_accuracy: float | None = None


@dataclass(frozen=True)
class TextClassifier:
    """A trained model with the examples it learned from (a fine-tune of it starts there)."""

    features: FeatureUnion
    weights: Matrix  # (n_features, n_labels)
    bias: Matrix  # (n_labels,)
    labels: tuple[str, ...]
    examples: tuple[Example, ...]

    def probabilities(self, text: str) -> dict[str, float]:
        row = _softmax(self.features.transform([text]) @ self.weights + self.bias)[0]
        return {label: float(p) for label, p in zip(self.labels, row, strict=True)}

    def predict(self, text: str) -> str:
        probabilities = self.probabilities(text)
        return max(probabilities, key=lambda label: probabilities[label])


def resolve(hyperparameters: Hyperparameters, seed: int | None) -> TrainingConfig:
    return TrainingConfig(
        n_epochs=hyperparameters.n_epochs or AUTO_EPOCHS,
        batch_size=hyperparameters.batch_size or AUTO_BATCH_SIZE,
        learning_rate_multiplier=hyperparameters.learning_rate_multiplier or 1.0,
        seed=0 if seed is None else seed,
    )


def train(
    examples: Sequence[Example],
    config: TrainingConfig,
    *,
    validation: Sequence[Example] = (),
    on_epoch: Callable[[EpochMetrics], bool] = lambda _: True,
) -> TextClassifier | None:
    """Fit from scratch, deterministically for the seed; None if `on_epoch` asks to stop."""
    features = _features()
    matrix = features.fit_transform([e.text for e in examples]).tocsr()
    labels = tuple(sorted({e.label for e in examples}))
    targets = _targets(examples, labels)
    held_out = None
    if validation:
        held_out = (features.transform([e.text for e in validation]), _targets(validation, labels))
    weights = np.zeros((matrix.shape[1], len(labels)))
    bias = np.zeros(len(labels))
    step = _BASE_STEP * config.learning_rate_multiplier
    rng = np.random.default_rng(config.seed)
    for epoch in range(1, config.n_epochs + 1):
        order = rng.permutation(len(examples))
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            error = _softmax(matrix[batch] @ weights + bias)
            error[np.arange(len(batch)), targets[batch]] -= 1.0
            error /= len(batch)
            weights -= step * (matrix[batch].T @ error + _L2 * weights)
            bias -= step * error.sum(axis=0)
        train_loss, train_accuracy = _score(matrix, targets, weights, bias)
        metrics = EpochMetrics(epoch, train_loss, train_accuracy)
        if held_out is not None:
            valid_loss, valid_accuracy = _score(*held_out, weights, bias)
            metrics = EpochMetrics(epoch, train_loss, train_accuracy, valid_loss, valid_accuracy)
        if not on_epoch(metrics):
            return None
    return TextClassifier(features, weights, bias, labels, tuple(examples))


def dumps(model: TextClassifier) -> bytes:
    """Pickle the model; equal models give equal bytes, in any process."""
    for _, vectorizer in model.features.transformer_list:
        # sklearn caches id(stop_words) here: a memory address, different in every process.
        vars(vectorizer).pop("_stop_words_id", None)
    return pickle.dumps(model, protocol=5)


def loads(data: bytes) -> TextClassifier:
    """Unpickle an artifact; only call this on bytes whose sha256 the store has checked."""
    model = pickle.loads(data)  # our own artifact, integrity checked by sha256 first
    if not isinstance(model, TextClassifier):
        raise TypeError("artifact is not a TextClassifier")
    return model


def _features() -> FeatureUnion:
    # Imported here: importing the adapters must stay cheap for the gateway, which never trains.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    # Words carry the intent; character n-grams survive typos and unseen inflections.
    return FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
        ]
    )


def _targets(examples: Sequence[Example], labels: tuple[str, ...]) -> NDArray[np.int64]:
    """Label indices; -1 for a label the model does not know (validation data may have one)."""
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index.get(e.label, -1) for e in examples], dtype=np.int64)


def _score(
    matrix: Matrix, targets: NDArray[np.int64], weights: Matrix, bias: Matrix
) -> tuple[float, float]:
    """Mean cross-entropy over examples whose label the model knows; accuracy over all."""
    probabilities = _softmax(matrix @ weights + bias)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == targets))
    known = targets >= 0
    if not known.any():
        return float("nan"), accuracy
    picked = probabilities[np.flatnonzero(known), targets[known]]
    return float(np.mean(-np.log(np.maximum(picked, 1e-12)))), accuracy


def _softmax(scores: Matrix) -> Matrix:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: Matrix = exp / exp.sum(axis=1, keepdims=True)
    return result

"""The local model: hashed TF-IDF features and scikit-learn's `SGDClassifier` (logistic loss).

A fine-tune starts from its parent's weights and inverse document frequencies. Features are
hashed into a fixed space, so a weight means the same thing in parent and child, and words the
parent never saw still get features of their own. Artifacts are numpy arrays in a zip, read
without pickle (`loads`), so a tampered file is refused rather than run.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from adapters.jobs import Hyperparameters
from adapters.local.dataset import Example

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.linear_model import SGDClassifier

__all__ = [
    "AUTO_EPOCHS",
    "BASE_MODEL",
    "BATCH_SIZE",
    "EpochMetrics",
    "TextClassifier",
    "TrainingConfig",
    "Weights",
    "dumps",
    "initial_weights",
    "loads",
    "resolve",
    "train",
]

BASE_MODEL = "tfidf-logreg"
AUTO_EPOCHS = 8
BATCH_SIZE = 1  # scikit-learn's SGD takes one step per example
_BASE_STEP = 0.5  # SGD's constant learning rate at learning_rate_multiplier 1.0
_L2 = 1e-4  # SGDClassifier's default alpha
# Columns per hashed part (word 1-2-grams, then char_wb 3-5-grams). Part of the artifact
# format: a parent's weights only carry over into the same space.
_HASHED_FEATURES = 2**15
_FORMAT = "modelops-local-tfidf-sgd/1"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # a fixed member time: equal models give equal bytes
Matrix = NDArray[np.float64]
Hashing = tuple["HashingVectorizer", ...]  # stateless; their columns side by side


@dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters with "auto" resolved, as recorded on the job and the model."""

    n_epochs: int
    learning_rate_multiplier: float
    seed: int
    batch_size: int = BATCH_SIZE


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    train_loss: float
    train_accuracy: float
    valid_loss: float | None = None
    valid_accuracy: float | None = None


@dataclass(frozen=True)
class Weights:
    """A linear model's parameters: one row of `coef` and one `intercept` per label."""

    coef: Matrix  # (n_labels, n_features)
    intercept: Matrix  # (n_labels,)


@dataclass(frozen=True)
class TextClassifier:
    """Fitted features (hashing + the idf of the first model in the line) and the estimator."""

    hashing: Hashing
    tfidf: TfidfTransformer
    estimator: SGDClassifier
    labels: tuple[str, ...]

    @property
    def weights(self) -> Weights:
        return Weights(self.estimator.coef_, self.estimator.intercept_)

    def vectorize(self, texts: Sequence[str]) -> csr_matrix:
        matrix: csr_matrix = self.tfidf.transform(_hashed(self.hashing, texts)).tocsr()
        return matrix

    def probabilities(self, text: str) -> dict[str, float]:
        row = self.estimator.predict_proba(self.vectorize([text]))[0]
        return {str(label): float(p) for label, p in zip(self.estimator.classes_, row, strict=True)}

    def predict(self, text: str) -> str:
        return str(self.estimator.predict(self.vectorize([text]))[0])


def resolve(hyperparameters: Hyperparameters, seed: int | None) -> TrainingConfig:
    """The hyperparameters with "auto" filled in (the adapter refuses a batch_size but 1)."""
    return TrainingConfig(
        n_epochs=hyperparameters.n_epochs or AUTO_EPOCHS,
        learning_rate_multiplier=hyperparameters.learning_rate_multiplier or 1.0,
        seed=0 if seed is None else seed,
    )


def initial_weights(parent: TextClassifier | None, labels: Sequence[str]) -> Weights:
    """Where training starts: the parent's weights, and zeros for labels it never saw. Two
    labels have one row (scikit-learn's binary case), for the second label."""
    rows = 1 if len(labels) == 2 else len(labels)
    coef, intercept = np.zeros((rows, 2 * _HASHED_FEATURES)), np.zeros(rows)
    if parent is not None and rows == 1:  # the parent has these very two labels
        return Weights(parent.weights.coef.copy(), parent.weights.intercept.copy())
    if parent is not None:
        for label, row, bias in _rows_per_label(parent):
            coef[labels.index(label)] = row
            intercept[labels.index(label)] = bias
    return Weights(coef, intercept)


def train(
    examples: Sequence[Example],
    config: TrainingConfig,
    *,
    parent: TextClassifier | None = None,
    validation: Sequence[Example] = (),
    on_epoch: Callable[[EpochMetrics], bool] = lambda _: True,
) -> TextClassifier | None:
    """Fit from the parent (or from zero), deterministically for the seed; None if `on_epoch`
    asks to stop. The labels are the parent's plus any new ones."""
    labels = sorted({*(parent.labels if parent else ()), *(e.label for e in examples)})
    hashing, tfidf = (parent.hashing, parent.tfidf) if parent else _features(None)
    counts = _hashed(hashing, [e.text for e in examples])
    if parent is None:
        tfidf.fit(counts)  # the first model in a line fits the idf; its fine-tunes keep it
    estimator = _estimator(initial_weights(parent, labels), labels, config)
    model = TextClassifier(hashing, tfidf, estimator, tuple(labels))
    matrix, targets = tfidf.transform(counts).tocsr(), np.array([e.label for e in examples])
    held_out = None
    if validation:
        held_out = (model.vectorize([e.text for e in validation]), [e.label for e in validation])
    rng = np.random.default_rng(config.seed)
    for epoch in range(1, config.n_epochs + 1):
        order = rng.permutation(len(examples))
        estimator.partial_fit(matrix[order], targets[order], classes=labels)
        train_loss, train_accuracy = _score(estimator, matrix, list(targets))
        metrics = EpochMetrics(epoch, train_loss, train_accuracy)
        if held_out is not None:
            valid_loss, valid_accuracy = _score(estimator, *held_out)
            metrics = EpochMetrics(epoch, train_loss, train_accuracy, valid_loss, valid_accuracy)
        if not on_epoch(metrics):
            return None
    return model


def dumps(model: TextClassifier) -> bytes:
    """The model as .npy arrays in a zip; equal models give equal bytes, in any process."""
    arrays = {
        "format": np.array(_FORMAT),
        "labels": np.array(model.labels),
        "idf": model.tfidf.idf_,
        "coef": model.estimator.coef_,
        "intercept": model.estimator.intercept_,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(member, "w") as out:
                np.lib.format.write_array(out, array, allow_pickle=False)
    return buffer.getvalue()


def loads(data: bytes) -> TextClassifier:
    """Rebuild a model from `dumps` bytes; never unpickles, so no byte of it is ever run."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            fmt, labels = str(arrays["format"][()]), [str(label) for label in arrays["labels"]]
            idf, coef, intercept = arrays["idf"], arrays["coef"], arrays["intercept"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not a local model artifact: {exc}") from exc
    columns, rows = 2 * _HASHED_FEATURES, 1 if len(labels) == 2 else len(labels)
    if fmt != _FORMAT or idf.shape != (columns,) or coef.shape != (rows, columns):
        raise ValueError(f"not a {_FORMAT} artifact (format {fmt!r}, weights {coef.shape})")
    hashing, tfidf = _features(idf)
    weights = Weights(coef.astype(np.float64), intercept.astype(np.float64))
    estimator = _estimator(weights, labels, resolve(Hyperparameters(), None))
    # Serving multiplies by coef_.T: in Fortran order that is contiguous, and not copied
    # on every call (a copy of every weight per request, otherwise).
    estimator.coef_ = np.asfortranarray(estimator.coef_)
    return TextClassifier(hashing, tfidf, estimator, tuple(labels))


def _hashed(hashing: Hashing, texts: Sequence[str]) -> csr_matrix:
    # scipy's hstack rather than sklearn's FeatureUnion, whose joblib dispatch costs more than
    # hashing one ticket does.
    from scipy.sparse import hstack

    matrix: csr_matrix = hstack([vectorizer.transform(texts) for vectorizer in hashing]).tocsr()
    return matrix


def _features(idf: Matrix | None) -> tuple[Hashing, TfidfTransformer]:
    # Imported here: importing the adapters must stay cheap for the gateway, which never trains.
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    # Words carry the intent; character n-grams survive typos and unseen inflections.
    # Counts stay unsigned and unnormalised so TfidfTransformer can weigh and normalise them.
    counts = {"n_features": _HASHED_FEATURES, "alternate_sign": False, "norm": None}
    hashing = (
        HashingVectorizer(ngram_range=(1, 2), **counts),
        HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), **counts),
    )
    tfidf = TfidfTransformer(sublinear_tf=True)
    if idf is not None:
        tfidf.idf_ = idf
        tfidf.n_features_in_ = idf.shape[0]
    return hashing, tfidf


def _estimator(weights: Weights, labels: Sequence[str], config: TrainingConfig) -> SGDClassifier:
    """An SGDClassifier whose weights are `weights`: `partial_fit` continues from them (it
    allocates zeros only when `coef_` is unset) and `predict_proba` reads them."""
    from sklearn.linear_model import SGDClassifier

    estimator = SGDClassifier(
        loss="log_loss",
        alpha=_L2,
        learning_rate="constant",
        eta0=_BASE_STEP * config.learning_rate_multiplier,
        shuffle=False,  # `train` shuffles with its own seeded generator, the same everywhere
        random_state=config.seed,
    )
    estimator.classes_ = np.array(labels)
    estimator.coef_ = weights.coef.copy()
    estimator.intercept_ = weights.intercept.copy()
    estimator.n_features_in_ = weights.coef.shape[1]
    return estimator


def _rows_per_label(model: TextClassifier) -> list[tuple[str, Matrix, float]]:
    """Each label's one-vs-rest row. A two-label model keeps one row, for its second label;
    the first label's row is its negation, which gives the same probabilities."""
    coef, intercept = model.weights.coef, model.weights.intercept
    if len(model.labels) == 2 and coef.shape[0] == 1:
        first, second = model.labels
        return [(first, -coef[0], -float(intercept[0])), (second, coef[0], float(intercept[0]))]
    return [(label, coef[i], float(intercept[i])) for i, label in enumerate(model.labels)]


def _score(estimator: SGDClassifier, matrix: csr_matrix, targets: list[str]) -> tuple[float, float]:
    """Mean cross-entropy over examples whose label the model knows; accuracy over all."""
    probabilities = estimator.predict_proba(matrix)
    index = {str(label): i for i, label in enumerate(estimator.classes_)}
    predicted = probabilities.argmax(axis=1)
    accuracy = float(
        np.mean([index.get(t, -1) == p for t, p in zip(targets, predicted, strict=True)])
    )
    known = [(row, index[t]) for row, t in enumerate(targets) if t in index]
    if not known:
        return float("nan"), accuracy
    picked = probabilities[[row for row, _ in known], [column for _, column in known]]
    return float(np.mean(-np.log(np.maximum(picked, 1e-12)))), accuracy

"""The pure ML of ``k8s-mlp``: TF-IDF -> SelectKBest (``vectorizer.py``) -> Keras MLP on sparse input.

One label (``kind/bug``) or every kind at once (multi-label, one sigmoid per
kind). The newest ``validation`` share of the training data (by input order,
which callers keep by PR number) is held out for early stopping and for
choosing each label's decision threshold (max F1), so the test data is never
looked at. TensorFlow is imported only when training or loading.

Input texts: empty strings are valid (the model's answer for a note with no
known words); None and non-strings raise ValueError; texts longer than
``vectorizer.MAX_CHARS`` are cut to their first ``MAX_CHARS`` characters.
"""
import dataclasses
import os
import random
from typing import Dict, List, Optional, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from . import vectorizer as features

MIN_KIND_SUPPORT = 20  # kinds rarer than this in the training data are not learned
THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.01), 2)


@dataclasses.dataclass
class Params:
    """Hyperparameters; defaults are the tuned recipe, not the original's."""

    ngram_max: int = 2
    min_df: int = 2
    max_df: float = 1.0
    top_k: int = 20000
    layers: int = 1
    units: int = 32
    dropout: float = 0.5
    l2: float = 1e-4  # weight decay on the first layer, the one that sees the 20,000 n-grams
    learning_rate: float = 3e-3
    epochs: int = 100
    batch_size: int = 512
    patience: int = 3
    threshold: Optional[float] = None  # None: chosen per label on the validation split
    validation: float = 0.15
    label_features: bool = False
    seed: int = 0


def seed_everything(seed: int):
    """Seed Python, NumPy and TensorFlow and make TF ops deterministic; returns tf."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # its C++ start-up chatter (CUDA factories) is noise here
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return tf


def sparse_tensor(tf, X):
    X = X.tocoo()
    indices = np.column_stack([X.row, X.col]).astype(np.int64)
    return tf.sparse.reorder(tf.SparseTensor(indices, X.data.astype(np.float32), X.shape))


def build_mlp(tf, inputs: int, outputs: int, params: Params):
    layer = tf.keras.layers
    x = entry = tf.keras.Input(shape=(inputs,), sparse=True)
    decay = tf.keras.regularizers.l2(params.l2) if params.l2 else None
    for index in range(params.layers):
        dense = layer.Dense(params.units, activation="relu", kernel_regularizer=decay if index == 0 else None)
        x = layer.Dropout(params.dropout)(dense(x))
    model = tf.keras.Model(entry, layer.Dense(outputs, activation="sigmoid")(x))
    model.compile(tf.keras.optimizers.Adam(params.learning_rate), "binary_crossentropy")
    return model


def best_threshold(y, probability) -> float:
    """The threshold maximising F1; of tied ones the middle, the widest margin on both sides."""
    scores = np.array([f1_score(y, probability >= t, zero_division=0) for t in THRESHOLDS])
    tied = np.asarray(THRESHOLDS)[scores == scores.max()]
    return float(tied[len(tied) // 2])


class Predictor:
    """A trained classifier: ``predict(texts)`` gives the first label's probability.

    Its state is plain: a fitted :class:`~.vectorizer.Vectorizer` and the MLP's weights as arrays.
    """

    def __init__(self, vectorizer: features.Vectorizer, weights: List[np.ndarray], labels: List[str],
                 thresholds: List[float]):
        self.vectorizer, self.weights = vectorizer, weights
        self.labels, self.thresholds = labels, thresholds

    @property
    def label(self) -> str:
        return self.labels[0]

    @property
    def threshold(self) -> float:
        return self.thresholds[0]

    def probabilities(self, texts: Sequence[str], labels=None) -> np.ndarray:
        """(n, labels) probabilities: the MLP's forward pass in NumPy (fast for one text)."""
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings, not one string")
        x = self.vectorizer.transform(texts, labels)
        for index in range(0, len(self.weights) - 2, 2):
            x = np.maximum(x @ self.weights[index] + self.weights[index + 1], 0)
        z = np.asarray(x @ self.weights[-2] + self.weights[-1])
        return 1.0 / (1.0 + np.exp(-z))

    def predict(self, texts: Sequence[str], labels=None) -> List[float]:
        return self.probabilities(texts, labels)[:, 0].tolist()

    def predict_kinds(self, texts: Sequence[str], labels=None) -> List[Dict[str, float]]:
        """Per text, label -> probability for every label the model knows."""
        return [dict(zip(self.labels, map(float, row))) for row in self.probabilities(texts, labels)]

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        return probabilities >= np.asarray(self.thresholds)


def targets(label_lists: Sequence[Sequence[str]], labels: List[str]) -> np.ndarray:
    return np.array([[label in have for label in labels] for have in label_lists], dtype=np.float32)


def kinds_of(label_lists: Sequence[Sequence[str]]) -> List[str]:
    """The kind/* labels with at least MIN_KIND_SUPPORT examples, sorted."""
    counts: Dict[str, int] = {}
    for have in label_lists:
        for label in set(have):
            if label.startswith("kind/"):
                counts[label] = counts.get(label, 0) + 1
    return sorted(label for label, count in counts.items() if count >= MIN_KIND_SUPPORT)


def fit_vectorizer(texts: Sequence[str], label_lists: Sequence[Sequence[str]], Y: np.ndarray, params: Params):
    """The recipe's features (``params``' n-grams, document frequencies, top k), fitted: (Vectorizer, rows)."""
    return features.fit(texts, label_lists, Y, params.ngram_max, params.min_df, params.max_df, params.top_k,
                        params.label_features)


def train(texts: Sequence[str], label_lists: Sequence[Sequence[str]], labels: List[str], params: Params):
    """Fit on the data (ordered oldest first); returns (Predictor, validation metrics)."""
    if len(texts) != len(label_lists):
        raise ValueError(f"{len(texts)} texts but {len(label_lists)} label lists")
    Y = targets(label_lists, labels)
    n_val = int(len(texts) * params.validation)
    if n_val < 2 or len(texts) - n_val < 2:
        raise ValueError(f"too few examples to train on: {len(texts)}")
    missing = [label for label, column in zip(labels, Y[: len(Y) - n_val].T) if column.min() == column.max()]
    if missing:
        raise ValueError(f"the training data needs examples with and without each label; not so for {missing}")
    tf = seed_everything(params.seed)
    vectorizer, X = fit_vectorizer(texts, label_lists, Y, params)
    fit, val = slice(0, len(texts) - n_val), slice(len(texts) - n_val, len(texts))
    positive = float(Y[fit, 0].mean())
    # class balance for one label; several labels share each example, so no weights
    weights = np.where(Y[fit, 0] > 0, 0.5 / positive, 0.5 / (1 - positive)) if len(labels) == 1 else None
    model = build_mlp(tf, X.shape[1], len(labels), params)
    stop = tf.keras.callbacks.EarlyStopping(patience=params.patience, restore_best_weights=True)
    history = model.fit(
        sparse_tensor(tf, X[fit]), Y[fit], sample_weight=weights, validation_data=(sparse_tensor(tf, X[val]), Y[val]),
        epochs=params.epochs, batch_size=params.batch_size, callbacks=[stop], verbose=0, shuffle=True,
    )
    predictor = Predictor(vectorizer, model.get_weights(), list(labels), [0.5] * len(labels))
    probability = np.asarray(predictor.probabilities([texts[i] for i in range(val.start, val.stop)], label_lists[val]))
    predictor.thresholds = [
        params.threshold if params.threshold is not None else best_threshold(Y[val, j], probability[:, j])
        for j in range(len(labels))
    ]
    validation = scores(Y[val], predictor.decide(probability), labels)
    validation["epochs"] = int(np.argmin(history.history["val_loss"])) + 1
    return predictor, validation


def scores(Y: np.ndarray, decided: np.ndarray, labels: List[str]) -> dict:
    """Accuracy, per-class precision/recall/F1 and confusion matrices; micro/macro F1 for several labels."""
    Y, decided = np.asarray(Y).astype(int), np.asarray(decided).astype(int)
    per_label = {}
    for j, label in enumerate(labels):
        precision, recall, f1, support = precision_recall_fscore_support(Y[:, j], decided[:, j], labels=[0, 1], zero_division=0)
        matrix = confusion_matrix(Y[:, j], decided[:, j], labels=[0, 1])
        rows = matrix.sum(axis=1, keepdims=True)
        per_label[label] = {
            "accuracy": float(accuracy_score(Y[:, j], decided[:, j])),
            "classes": {
                name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
                for i, name in enumerate([f"not {label}", label])
            },
            "confusion_matrix": matrix.tolist(),
            "confusion_matrix_normalized": np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0).round(4).tolist(),
        }
    first = per_label[labels[0]]
    result = {"accuracy": first["accuracy"], "f1": first["classes"][labels[0]]["f1"], "labels": per_label}
    if len(labels) > 1:
        result["micro_f1"] = float(f1_score(Y, decided, average="micro", zero_division=0))
        result["macro_f1"] = float(f1_score(Y, decided, average="macro", zero_division=0))
        result["subset_accuracy"] = float(accuracy_score(Y, decided))
    return result


def evaluate(predictor: Predictor, texts: Sequence[str], label_lists: Sequence[Sequence[str]]) -> dict:
    decided = predictor.decide(predictor.probabilities(texts, label_lists))
    return scores(targets(label_lists, predictor.labels), decided, predictor.labels)

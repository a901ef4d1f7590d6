"""The pure ML of ``k8s-mlp``: a Keras MLP averaged with three linear members.

Predicts ``kind/bug`` (or the first label) from a release note, or every
kind at once (one-vs-rest, one threshold per kind). Each member gives a
probability over its inputs (see :mod:`.features`), and the prediction is
their plain mean:

1. ``word``: logistic regression (``c_word``) on TF-IDF word 1-2-grams;
2. ``nb``: NB-weighted logistic regression (NBSVM's log-count ratios, ``c_nb``)
   on binary word 1-3-grams;
3. ``char``: logistic regression (``c_char``) on TF-IDF char 2-5-grams;
4. ``mlp``: a Keras MLP on the ``top_k`` word features by chi2: Dense(units,
   ReLU, L2) -> Dropout -> Dense(sigmoid), Adam, a few epochs.

Training takes the notes oldest first (callers keep PR order): the members
are fit on the older part, the threshold that maximises a 5-point moving
average of accuracy + F1 on the newest ``validation`` share is chosen there
(max F1 per kind in the all-kinds mode, whose members are class-balanced),
and so is the first label's acting threshold: the lowest whose precision on
the validation notes is >= ``precision`` with 95% confidence (the bot's act
band; from the decision threshold up to it, the suggest band). Then every member is
refit on all the notes. The validation figures :func:`train` returns are
never a split scored on itself: thresholds chosen on the older half of the
validation notes, scored on the newer half. Kinds with fewer than
``MIN_KIND_SUPPORT`` examples in the older part are never predicted.

Prediction is NumPy/SciPy only, from plain arrays; TensorFlow is imported
only to train the MLP, scikit-learn only to fit the logistic regressions.
Input texts: empty strings are valid; None and non-strings raise
ValueError; texts longer than ``MAX_CHARS`` are cut.
"""
import dataclasses
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import UserError
from . import features as vectorize
from . import sigs as router
from .text import LABEL_PREFIXES, MAX_CHARS, START, check_text  # noqa: F401  (part of this module's API)

MIN_KIND_SUPPORT = 15  # kinds rarer than this (in the part the members first learn from) are never predicted
NEVER = 2.0  # the threshold of a kind never predicted
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.01), 2)
THRESHOLDS_KINDS = np.round(np.concatenate([np.arange(0.005, 0.05, 0.005), THRESHOLDS]), 3)  # rare kinds' low ones
SMOOTH = 5  # grid points in the moving average of the binary threshold's objective
ACT_GRID = np.round(np.arange(0.05, 0.996, 0.005), 3)
MIN_ACTED = 10  # an acting threshold is judged only where it acts on this many validation notes or more
CONFIDENCE = 0.90  # two-sided, so its lower bound is one-sided 95%
BANDS = ("act", "suggest", "none")


@dataclasses.dataclass
class Params:
    """Hyperparameters; the defaults are the recipe chosen on validation folds of the training era."""

    word_ngrams: int = 2
    nb_ngrams: int = 3
    char_min: int = 2
    char_max: int = 5
    min_df: int = 2  # n-grams in fewer training notes are dropped
    c_word: float = 2.0
    c_nb: float = 0.03
    c_char: float = 2.0
    top_k: int = 8000  # the MLP's word features, by chi2
    units: int = 32
    dropout: float = 0.5
    l2: float = 1e-4
    learning_rate: float = 5e-3
    epochs: int = 4
    batch_size: int = 256
    threshold: Optional[float] = None  # None: chosen per label on the validation split
    validation: float = 0.15
    precision: float = 0.90  # the act band's precision on the validation notes
    label_features: bool = True  # the PR's sig/*, area/* (and docs/linked) labels as optional inputs
    sigs: bool = False  # also learn the SIG router (see .sigs)
    c_sig: float = 4.0
    seed: int = 0

    def __post_init__(self):
        positive = ("word_ngrams", "nb_ngrams", "char_min", "min_df", "top_k", "units", "epochs", "batch_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be 1 or more, got {getattr(self, name)}")
        if self.char_max < self.char_min:
            raise ValueError(f"char_max must be char_min ({self.char_min}) or more, got {self.char_max}")
        for name in ("c_word", "c_nb", "c_char", "c_sig", "learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be more than 0, got {getattr(self, name)}")
        if self.l2 < 0:
            raise ValueError(f"l2 must be 0 (no weight decay) or more, got {self.l2}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.validation < 1:
            raise ValueError(f"validation must be in (0, 1), got {self.validation}")
        if not 0 < self.precision <= 1:
            raise ValueError(f"precision must be in (0, 1], got {self.precision}")
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


class Predictor:
    """A trained classifier: fitted features, each member's arrays, labels and thresholds.

    ``arrays``: ``word_coef``/``word_bias``, ``nb_coef``/``nb_bias``, ``char_coef``/``char_bias``
    (one column per learned label), ``mlp_cols`` (the MLP's word columns) and its Keras
    weights ``mlp_w0``..``mlp_w3``. ``active`` names the labels learned (the others get 0);
    ``act``: the first label's acting threshold (NEVER: no act band). With a SIG router: ``sigs``
    names its SIGs (``sig_coef``/``sig_bias``), ``confident`` its threshold on the top SIG's probability.
    """

    def __init__(self, features: vectorize.Features, arrays: Dict[str, np.ndarray], labels: List[str],
                 thresholds: List[float], active: List[str], act: float = NEVER, sigs: Sequence[str] = (),
                 confident: float = NEVER):
        self.features, self.arrays = features, arrays
        self.labels, self.thresholds, self.active = list(labels), [float(t) for t in thresholds], list(active)
        self.act, self.sigs, self.confident = float(act), list(sigs), float(confident)
        first = np.zeros((len(features.vocab["word"]), arrays["mlp_w0"].shape[1]))
        first[arrays["mlp_cols"]] = arrays["mlp_w0"]  # X @ first == X[:, mlp_cols] @ w0
        self._mlp = [first] + [arrays[f"mlp_w{i}"].astype(np.float64) for i in (1, 2, 3)]

    @property
    def label(self) -> str:
        return self.labels[0]

    @property
    def threshold(self) -> float:
        return self.thresholds[0]

    @property
    def feature_names(self) -> List[str]:
        """The MLP's word features, for people."""
        return [self.features.vocab["word"][i] for i in self.arrays["mlp_cols"]]

    def member_probabilities(self, texts: Sequence[str], labels=None) -> Dict[str, np.ndarray]:
        """Each member's (n, active labels) probabilities."""
        X = vectorize.transform(self.features, texts, labels)
        a, out = self.arrays, {}
        for name in ("word", "nb", "char"):
            out[name] = sigmoid(X[name] @ a[f"{name}_coef"] + a[f"{name}_bias"])
        first, b0, w1, b1 = self._mlp
        out["mlp"] = sigmoid(np.maximum(X["word"] @ first + b0, 0) @ w1 + b1)
        return {name: np.asarray(value, dtype=np.float64) for name, value in out.items()}

    def probabilities(self, texts: Sequence[str], labels=None) -> np.ndarray:
        """(n, labels) probabilities, the mean of the members'; ``labels``: per text its PR labels, or None."""
        mean = np.mean(list(self.member_probabilities(texts, labels).values()), axis=0)
        out = np.zeros((mean.shape[0], len(self.labels)))
        out[:, [self.labels.index(label) for label in self.active]] = mean
        return out

    def predict(self, texts: Sequence[str], labels=None) -> List[float]:
        return self.probabilities(texts, labels)[:, 0].tolist()

    def predict_kinds(self, texts: Sequence[str], labels=None) -> List[Dict[str, float]]:
        """Per text, label -> probability for every label the model knows."""
        return [dict(zip(self.labels, map(float, row))) for row in self.probabilities(texts, labels)]

    def sig_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(n, sigs) probabilities of each SIG, from the text alone."""
        if not self.sigs:
            raise ValueError("this model has no SIG router; train it with --sigs")
        X = vectorize.transform(self.features, texts)
        return sigmoid(router.inputs(X["word"], X["char"]) @ self.arrays["sig_coef"] + self.arrays["sig_bias"])

    def route(self, texts: Sequence[str], k: int = router.TOP) -> List[dict]:
        """Per text: its k most probable SIGs with their probabilities, and whether the first is confident."""
        P = self.sig_probabilities(texts)
        return [{"sigs": [{"sig": self.sigs[j], "probability": float(P[i, j])} for j in best],
                 "confident": bool(P[i, best[0]] >= self.confident)} for i, best in enumerate(router.top(P, k))]

    def weighed(self, text: str, labels=None, k: int = 3) -> List[str]:
        """The note's words (n-grams, as the model normalised them) that pushed its first label up the most in the
        linear ``word`` member (tf-idf value times weight, the ``k`` largest positive); label and marker tokens
        (the start, the leading verb) left out."""
        X = vectorize.transform(self.features, [text], [labels] if labels is not None else None)["word"].tocsr()
        weights = X.data * self.arrays["word_coef"][X.indices, 0]
        terms = [self.features.vocab["word"][X.indices[j]] for j in np.argsort(-weights, kind="stable")
                 if weights[j] > 0]
        return [term for term in terms if "/" not in term and START not in term and not term.startswith("xlead_")][:k]

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        return probabilities >= np.asarray(self.thresholds)

    def band(self, probability: float) -> str:
        """The first label's band: ``act`` (its acting threshold or more), ``suggest`` (its decision threshold
        or more) or ``none``."""
        return "act" if probability >= self.act else "suggest" if probability >= self.threshold else "none"


class MLPTrainer:
    """Trains the Keras MLP member with a minimal loop: one ``tf.function`` step per mini-batch.

    A plain Keras functional model (sparse input -> Dense(ReLU, L2) -> Dropout ->
    Dense(sigmoid)) and Keras Adam; ``Model.fit`` on sparse input costs several
    times more per step. Rows are shuffled per epoch by a seeded NumPy generator.
    One trainer serves both fits of :func:`train`: the weights and the optimizer
    state are reset to the same seeded start, so the step is traced once.
    """

    def __init__(self, seed: int):
        try:
            import tensorflow as tf
        except ImportError as error:  # a slim install (export, analysis, serving) has no TensorFlow
            raise UserError(f"training needs TensorFlow, which this install leaves out ({error}): "
                            "pip install 'dffml-k8s-analysis[train]'") from None

        self.tf, self.seed, self.key = tf, seed, None

    def _build(self, inputs: int, outputs: int, params: Params):
        tf, keras = self.tf, self.tf.keras
        keras.backend.clear_session()
        keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()
        x = keras.Input(shape=(inputs,), sparse=True)
        decay = keras.regularizers.l2(params.l2) if params.l2 else None
        h = keras.layers.Dense(params.units, activation="relu", kernel_regularizer=decay)(x)
        h = keras.layers.Dropout(params.dropout, seed=self.seed)(h)
        model = keras.Model(x, keras.layers.Dense(outputs, activation="sigmoid")(h))
        try:  # Keras 2: XLA-compiling each update costs more than it saves on this small model
            optimizer = keras.optimizers.Adam(learning_rate=params.learning_rate, jit_compile=False)
        except (TypeError, ValueError):  # Keras 3 has no such argument
            optimizer = keras.optimizers.Adam(learning_rate=params.learning_rate)
        variables = model.trainable_variables

        @tf.function(autograph=False, input_signature=[tf.SparseTensorSpec([None, inputs], tf.float32),
                                      tf.TensorSpec([None, outputs], tf.float32),
                                      tf.TensorSpec([None], tf.float32),
                                      tf.TensorSpec([2, outputs], tf.float32)])
        def step(xb, yb, wb, cw):
            """Binary cross-entropy, weighted per note (wb) and per class and output (cw[y, k])."""
            with tf.GradientTape() as tape:
                prob = tf.clip_by_value(model(xb, training=True), 1e-7, 1 - 1e-7)
                bce = -(yb * tf.math.log(prob) + (1 - yb) * tf.math.log(1 - prob))
                loss = tf.reduce_mean(tf.reduce_mean(bce * (yb * cw[1] + (1 - yb) * cw[0]), axis=1) * wb)
                if model.losses:
                    loss = loss + tf.add_n(model.losses)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss

        self.model, self.optimizer, self.step = model, optimizer, step
        self.initial = [w.copy() for w in model.get_weights()]

    def train(self, X: sp.csr_matrix, Y: np.ndarray, weight: np.ndarray, balance: bool, params: Params) -> List[np.ndarray]:
        """The trained weights [kernel, bias, kernel, bias]; ``balance``: weigh each output's classes 50/50."""
        tf = self.tf
        width = X.shape[1]
        inputs = max(width, params.top_k)  # one input width for both fits: traced once
        key = (inputs, Y.shape[1], params.units, params.l2, params.dropout, params.learning_rate)
        if self.key != key:
            self._build(inputs, Y.shape[1], params)
            self.key = key
        self.model.set_weights(self.initial)
        for variable in self.optimizer.variables:  # fresh Adam state (and step count) for every training
            variable.assign(tf.zeros_like(variable))
        X = sp.csr_matrix((X.data.astype(np.float32), X.indices, X.indptr), shape=(X.shape[0], inputs))
        Y = np.asarray(Y, dtype=np.float32)
        W = np.asarray(weight, dtype=np.float32)
        share = np.clip(Y.mean(axis=0), 1e-6, 1 - 1e-6)
        b = 1.0 if balance else 0.0
        cw = tf.constant(np.stack([(0.5 / (1 - share)) ** b, (0.5 / share) ** b]).astype(np.float32))
        rng = np.random.default_rng(self.seed)
        for _ in range(params.epochs):
            order = rng.permutation(X.shape[0])
            for start in range(0, X.shape[0], params.batch_size):
                rows = order[start:start + params.batch_size]
                xb = X[rows].tocoo()  # row-sorted
                sparse = tf.SparseTensor(np.column_stack([xb.row, xb.col]).astype(np.int64), xb.data, xb.shape)
                self.step(sparse, tf.constant(Y[rows]), tf.constant(W[rows]), cw)
        weights = [np.asarray(w, dtype=np.float32) for w in self.model.get_weights()]
        weights[0] = weights[0][:width]  # the padding inputs are always zero
        return weights


def class_weights(y: np.ndarray, balance: bool) -> np.ndarray:
    """Per-note weights for 0/1 targets: 0.5 / class share when balancing, else 1."""
    share = float(np.mean(y))
    if not balance or share in (0.0, 1.0):
        return np.ones(len(y))
    return np.where(y > 0, 0.5 / share, 0.5 / (1 - share))


def logistic(X, Y, C: float, seed: int, balance: bool):
    """L2 logistic regression per column of Y (liblinear dual, seeded); (coef V x K, bias K)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    coefs, biases = [], []
    for k in range(Y.shape[1]):
        model = LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=1000, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, Y[:, k], sample_weight=class_weights(Y[:, k], balance))
        coefs.append(model.coef_[0])
        biases.append(model.intercept_[0])
    return np.stack(coefs, axis=1), np.asarray(biases)


def nb_ratio(X, y, alpha: float = 1.0) -> np.ndarray:
    """NBSVM's log-count ratio of each binary feature between the classes."""
    p = alpha + np.asarray(X.T @ (y == 1)).ravel()
    q = alpha + np.asarray(X.T @ (y == 0)).ravel()
    return np.log(p / p.sum()) - np.log(q / q.sum())


def chi2_top(X, Y, k: int) -> np.ndarray:
    """The k columns of highest chi2 against any label column (sklearn's chi2 statistic), ascending."""
    if X.shape[1] <= k:
        return np.arange(X.shape[1])
    X = sp.csr_matrix(X)
    total = np.asarray(X.sum(axis=0)).ravel()
    best = np.zeros(X.shape[1])
    for j in range(Y.shape[1]):
        y = np.asarray(Y[:, j]) > 0
        positive = np.asarray(X[y].sum(axis=0)).ravel()
        share = y.mean()
        score = np.zeros(X.shape[1])
        for observed, expected in ((positive, total * share), (total - positive, total * (1 - share))):
            ok = expected > 0
            score[ok] += (observed[ok] - expected[ok]) ** 2 / expected[ok]
        best = np.maximum(best, score)
    return np.sort(np.argsort(-best, kind="stable")[:k])


def fit_members(counts: vectorize.TrainingCounts, rows: np.ndarray, Y: np.ndarray, params: Params,
                trainer: MLPTrainer, S: Optional[np.ndarray] = None):
    """Fit the features and every member (and the SIG router on ``S``'s columns) on the notes ``rows``;
    (features, arrays, the router's CPU seconds).

    The MLP trains in a second thread while the linear members fit (TensorFlow and
    liblinear both release the GIL); each is seeded, so the result is the same.
    """
    features, X = vectorize.fit_counts(counts, rows, params)
    balance = Y.shape[1] > 1  # class-balanced members in the all-kinds mode
    doubled = np.vstack([Y, Y]) if params.label_features else Y  # the word/nb rows: with, then without labels
    columns = chi2_top(X["word"], doubled, params.top_k)
    Xm, Ym = X["word"][:, columns], doubled
    if params.label_features:  # each note once, its labels dropped for a seeded random half
        n = len(rows)
        pick = np.where(np.random.default_rng(params.seed).random(n) < 0.5, np.arange(n) + n, np.arange(n))
        Xm, Ym = Xm[pick], doubled[pick]
    with ThreadPoolExecutor(1) as pool:
        mlp = pool.submit(trainer.train, Xm, Ym, np.ones(len(Ym)), balance, params)
        arrays = linear_members(X, Y, doubled, params, balance)
        router_cpu = 0.0
        if S is not None:
            used = time.thread_time()
            text_only = X["word"][len(rows):] if params.label_features else X["word"]  # the rows without label tokens
            arrays["sig_coef"], arrays["sig_bias"] = fit_router(router.inputs(text_only, X["char"]), S, params.c_sig, params.seed)
            router_cpu = time.thread_time() - used
        arrays["mlp_cols"] = columns.astype(np.int64)
        for i, weights in enumerate(mlp.result()):
            arrays[f"mlp_w{i}"] = weights
    return features, arrays, router_cpu


def fit_router(X: sp.csr_matrix, S: np.ndarray, C: float, seed: int):
    """The SIG router's (coef, bias) per column of ``S``; a SIG without positive notes gets a bias that never routes to it."""
    coef, bias = np.zeros((X.shape[1], S.shape[1])), np.full(S.shape[1], -50.0)
    learnable = [k for k in range(S.shape[1]) if 0 < S[:, k].sum() < len(S)]
    if learnable:
        coef[:, learnable], bias[learnable] = logistic(X, S[:, learnable], C, seed, False)
    return coef, bias


def linear_members(X: Dict[str, sp.csr_matrix], Y: np.ndarray, doubled: np.ndarray, params: Params, balance: bool) -> dict:
    """The word, nb and char members' coefficients and biases."""
    arrays = {}
    arrays["word_coef"], arrays["word_bias"] = logistic(X["word"], doubled, params.c_word, params.seed, balance)
    coefs, biases = [], []
    for k in range(doubled.shape[1]):
        ratio = nb_ratio(X["nb"], doubled[:, k])
        coef, bias = logistic((X["nb"] @ sp.diags(ratio)).tocsr(), doubled[:, [k]], params.c_nb, params.seed, balance)
        coefs.append(coef[:, 0] * ratio)  # the weights of the binary features themselves
        biases.append(bias[0])
    arrays["nb_coef"], arrays["nb_bias"] = np.stack(coefs, axis=1), np.asarray(biases)
    arrays["char_coef"], arrays["char_bias"] = logistic(X["char"], Y, params.c_char, params.seed, balance)
    return arrays


def acc_f1(y, decided):
    """Accuracy and F1 of the positive class."""
    y, d = np.asarray(y).astype(bool), np.asarray(decided).astype(bool)
    tp, fp, fn = np.sum(y & d), np.sum(~y & d), np.sum(y & ~d)
    return float(np.mean(y == d)), float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0


def choose_threshold(y, probability, objective: str = "acc+f1", grid=THRESHOLDS, smooth: int = 1) -> float:
    """The grid point maximising the objective (its ``smooth``-point moving average); of tied ones the middle."""
    found = np.array([sum(acc_f1(y, probability >= t)) if objective == "acc+f1" else acc_f1(y, probability >= t)[1]
                      for t in grid])
    if smooth > 1:
        found = np.convolve(np.pad(found, smooth // 2, mode="edge"), np.ones(smooth) / smooth, mode="valid")
    tied = np.asarray(grid)[np.isclose(found, found.max())]
    return float(tied[len(tied) // 2])


def choose_act(y, probability, precision: float, grid=ACT_GRID) -> float:
    """The lowest grid threshold whose band (the notes at or above it, MIN_ACTED or more) has precision
    ``precision`` or more with 95% confidence (the one-sided Wilson bound); NEVER when none has."""
    from scipy.stats import binomtest

    y, probability = np.asarray(y).astype(bool), np.asarray(probability)
    for t in grid:
        acted = probability >= t
        count, right = int(acted.sum()), int((y & acted).sum())
        if count >= MIN_ACTED and binomtest(right, count).proportion_ci(CONFIDENCE, method="wilson").low >= precision:
            return float(t)
    return NEVER


def validation_size(count: int, share: float) -> int:
    """How many of the newest notes choose the thresholds."""
    return int(round(count * share))


def targets(label_lists: Sequence[Sequence[str]], labels: List[str]) -> np.ndarray:
    return np.array([[label in have for label in labels] for have in label_lists], dtype=np.float64).reshape(-1, len(labels))


def kinds_of(label_lists: Sequence[Sequence[str]]) -> List[str]:
    """The kind/* labels with at least MIN_KIND_SUPPORT examples, sorted."""
    counts: Dict[str, int] = {}
    for have in label_lists:
        for label in set(have):
            if label.startswith("kind/"):
                counts[label] = counts.get(label, 0) + 1
    return sorted(label for label, count in counts.items() if count >= MIN_KIND_SUPPORT)


def train(texts: Sequence[str], label_lists: Sequence[Sequence[str]], labels: List[str], params: Params):
    """Fit on the notes (oldest first) and their PR labels; returns (Predictor, validation metrics).

    ``label_lists`` are the targets (``labels`` names the ones to learn) and, with
    ``label_features``, the sig/area inputs too.
    """
    if len(texts) != len(label_lists):
        raise ValueError(f"{len(texts)} texts but {len(label_lists)} label lists")
    started = time.perf_counter()
    Y = targets(label_lists, labels)
    n = len(texts)
    n_val = validation_size(n, params.validation)
    if n_val < 2 or n - n_val < 2:
        raise ValueError(f"too few examples to train on: {n}")
    fit, val = np.arange(n - n_val), np.arange(n - n_val, n)
    support = Y[fit].sum(axis=0)
    if not 0 < support[0] < len(fit):
        raise ValueError(f"the training data needs examples with and without each label; not so for {labels[:1]}")
    active = [j for j in range(len(labels)) if j == 0 or (MIN_KIND_SUPPORT <= support[j] < len(fit))]
    counts = vectorize.TrainingCounts(vectorize.Docs(texts, label_lists, max(params.word_ngrams, params.nb_ngrams)), params)
    trainer = MLPTrainer(params.seed)
    names = [labels[j] for j in active]
    sig_names = router.names_of(label_lists) if params.sigs else []
    if params.sigs and not sig_names:
        raise ValueError(f"the training data has no sig/* label on {router.MIN_SUPPORT} notes or more; train without --sigs")
    S = targets(label_lists, sig_names) if sig_names else None
    features, arrays, router_cpu = fit_members(counts, fit, Y[fit][:, active], params, trainer, None if S is None else S[fit])
    inner = Predictor(features, arrays, labels, [NEVER] * len(labels), names, sigs=sig_names)
    probability = inner.probabilities([texts[i] for i in val], [label_lists[i] for i in val])
    P = inner.sig_probabilities([texts[i] for i in val]) if sig_names else None
    chosen = Choice(Y[val], probability, active, params, None if P is None else (P, S[val]))
    older, newer = np.arange(len(val) // 2), np.arange(len(val) // 2, len(val))
    honest = Choice(Y[val][older], probability[older], active, params, None if P is None else (P[older], S[val][older]))
    validation = scores(Y[val][newer], probability[newer] >= np.asarray(honest.thresholds), labels)
    validation["act"] = act_scores(Y[val][newer, 0], probability[newer, 0], honest.act)
    if sig_names:
        validation["sigs"] = router.scores(P[newer], S[val][newer], router.with_sig([label_lists[i] for i in val[newer]]),
                                           honest.confident)
    features, arrays, final_cpu = fit_members(counts, np.arange(n), Y[:, active], params, trainer, S)
    predictor = Predictor(features, arrays, labels, chosen.thresholds, names, chosen.act, sig_names, chosen.confident)
    validation["seconds"] = round(time.perf_counter() - started, 3)
    if sig_names:
        validation["sigs"]["cpu_s"] = round(router_cpu + final_cpu, 3)  # the router's fits, of the CPU time above
    return predictor, validation


class Choice:
    """The thresholds chosen on validation notes: per label, the act band's and the SIG router's confident one.

    ``Y``/``probability``: the notes' targets and probabilities; ``sig``: (SIG probabilities, SIG targets) or None.
    """

    def __init__(self, Y: np.ndarray, probability: np.ndarray, active: List[int], params: Params, sig=None):
        multi = Y.shape[1] > 1
        self.thresholds = [NEVER] * Y.shape[1]
        for j in active:
            if params.threshold is not None:
                self.thresholds[j] = params.threshold
            elif Y[:, j].sum() == 0:
                self.thresholds[j] = 0.5
            elif multi:
                self.thresholds[j] = choose_threshold(Y[:, j], probability[:, j], "f1", THRESHOLDS_KINDS)
            else:
                self.thresholds[j] = choose_threshold(Y[:, j], probability[:, j], "acc+f1", THRESHOLDS, SMOOTH)
        self.act = choose_act(Y[:, 0], probability[:, 0], params.precision)
        self.confident = NEVER
        if sig is not None:
            P, S = sig
            known = S.any(axis=1)
            self.confident = choose_act(router.hits(P[known], S[known], 1), P[known].max(axis=1), params.precision)


def scores(Y: np.ndarray, decided: np.ndarray, labels: List[str]) -> dict:
    """Accuracy, per-class precision/recall/F1 and confusion matrices; micro/macro F1 for several labels."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

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


def act_scores(y, probability, act: float) -> dict:
    """The act band's threshold, precision, recall and share of the notes."""
    y, acted = np.asarray(y).astype(bool), np.asarray(probability) >= act
    return {"threshold": float(act), "precision": float((y & acted).sum() / acted.sum()) if acted.any() else 0.0,
            "recall": float((y & acted).sum() / y.sum()) if y.any() else 0.0, "share": float(acted.mean())}


def evaluate(predictor: Predictor, texts: Sequence[str], label_lists: Sequence[Sequence[str]]) -> dict:
    """Scores on labelled notes; their sig/area labels are given to the model as inputs."""
    probability = predictor.probabilities(texts, label_lists)
    truth = targets(label_lists, predictor.labels)
    result = scores(truth, predictor.decide(probability), predictor.labels)
    result["act"] = act_scores(truth[:, 0], probability[:, 0], predictor.act)
    if predictor.sigs:
        result["sigs"] = router.scores(predictor.sig_probabilities(texts), targets(label_lists, predictor.sigs),
                                       router.with_sig(label_lists), predictor.confident)
    return result

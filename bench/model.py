"""Benchmark: k8s-mlp against the original recipe and a linear baseline, on the shared release notes.

Time split: train on the older 80% by PR number, test on the newest 20%.
Trained and scored in the same run:

- original: TF-IDF 1-2 grams -> SelectKBest(f_classif, 50,000) -> dense MLP
  2 x 64 ReLU, dropout 0.2, Adam 1e-3, batch 128, early stopping on val_loss
  (patience 5) with a random 80/20 split of the training data, threshold 0.6;
- linear: LinearSVC on the same features;
- ours: k8s-mlp with its defaults (text only, then with the PR's sig/area
  labels), trained twice with the same seed to check determinism, and in
  all-kinds mode (micro/macro F1).

Prints the table, the ratios against the original and the targets, and ends
with one JSON line. Train times of ours are medians of its two runs.

A diagnostic, not a model choice: for the linear baseline and for ours, the
"ceiling" is the best (accuracy, F1) pair any single threshold reaches on the
test slice itself (the pair closest to meeting both targets). Where even that
misses the targets, no choice of threshold made on validation data can meet
them with that ranking of the notes.

    .venv/bin/python bench/model.py
"""
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.feature_selection import SelectKBest, f_classif  # noqa: E402
from sklearn.metrics import accuracy_score, precision_recall_fscore_support  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from dffml_k8s_analysis.model import classifier  # noqa: E402
from dffml_k8s_analysis.records import training_data  # noqa: E402

LABEL = "kind/bug"
SEED = 0


def per_item_ms(predict_one, texts) -> float:
    """Median wall time of predicting one text, in milliseconds."""
    times = []
    for text in texts:
        started = time.perf_counter()
        predict_one(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def bug_scores(y, decided) -> dict:
    precision, recall, f1, _ = precision_recall_fscore_support(y, decided, average="binary", zero_division=0)
    return {"accuracy": accuracy_score(y, decided), "precision": precision, "recall": recall, "f1": f1}


def ceiling(y, scores, need) -> dict:
    """The test-slice threshold whose (accuracy, F1) comes closest to ``need``, and that pair."""
    best = None
    for threshold in np.unique(np.round(scores, 4)):
        found = bug_scores(y, scores >= threshold)
        margin = min(found["accuracy"] - need[0], found["f1"] - need[1])
        if best is None or margin > best["margin"]:
            best = {"accuracy": found["accuracy"], "f1": found["f1"], "margin": margin}
    return best


def original_features(train_texts, y):
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), dtype=np.float32, strip_accents="unicode", decode_error="replace")
    X = vectorizer.fit_transform(train_texts)
    selector = SelectKBest(f_classif, k=min(50000, X.shape[1])).fit(X, y)
    return vectorizer, selector, selector.transform(X)


def original(train_texts, y, test_texts, y_test) -> dict:
    tf = classifier.seed_everything(SEED)
    started = time.perf_counter()
    vectorizer, selector, X = original_features(train_texts, y)
    X = X.toarray()
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=0.2, random_state=SEED)
    layer = tf.keras.layers
    model = tf.keras.Sequential([
        layer.Dropout(0.2, input_shape=X.shape[1:]), layer.Dense(64, activation="relu"), layer.Dropout(0.2),
        layer.Dense(64, activation="relu"), layer.Dropout(0.2), layer.Dense(1, activation="sigmoid"),
    ])
    model.compile(tf.keras.optimizers.Adam(1e-3), "binary_crossentropy")
    stop = tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=5)
    model.fit(X_fit, y_fit, validation_data=(X_val, y_val), epochs=1000, batch_size=128, callbacks=[stop], verbose=0)
    seconds = time.perf_counter() - started
    probability = model.predict(selector.transform(vectorizer.transform(test_texts)).toarray(), verbose=0)[:, 0]
    ms = per_item_ms(lambda text: model.predict(selector.transform(vectorizer.transform([text])).toarray(), verbose=0), test_texts[:30])
    return dict(bug_scores(y_test, probability >= 0.6), train_s=seconds, predict_ms=ms)


def linear(train_texts, y, test_texts, y_test):
    """The row, and the test slice's decision values."""
    started = time.perf_counter()
    vectorizer, selector, X = original_features(train_texts, y)
    svm = LinearSVC(dual=True, random_state=SEED).fit(X, y)
    seconds = time.perf_counter() - started
    decide = lambda texts: svm.predict(selector.transform(vectorizer.transform(texts)))  # noqa: E731
    row = dict(bug_scores(y_test, decide(test_texts)), train_s=seconds, predict_ms=per_item_ms(lambda t: decide([t]), test_texts[:200]))
    return row, svm.decision_function(selector.transform(vectorizer.transform(test_texts)))


def ours(train, test, params: classifier.Params, labels=(LABEL,)):
    """The row, and the test slice's probabilities of the first label."""
    started = time.perf_counter()
    predictor, _ = classifier.train(train[0], train[1], list(labels), params)
    seconds = time.perf_counter() - started
    found = classifier.evaluate(predictor, test[0], test[1])
    bug = found["labels"][LABEL]["classes"][LABEL]
    row = dict(accuracy=found["accuracy"], precision=bug["precision"], recall=bug["recall"], f1=bug["f1"], train_s=seconds,
               predict_ms=per_item_ms(lambda t: predictor.predict([t], [test[1][0]]), test[0][:200]),
               threshold=predictor.threshold)
    if len(labels) > 1:
        row.update(micro_f1=found["micro_f1"], macro_f1=found["macro_f1"])
    return row, np.asarray(predictor.predict(test[0], test[1]))


def main() -> int:
    try:
        texts, label_lists = training_data.from_notes()
    except FileNotFoundError as error:
        print(f"bench/model.py: {error}", file=sys.stderr)
        return 1
    cut = int(len(texts) * 0.8)
    train, test = (texts[:cut], label_lists[:cut]), (texts[cut:], label_lists[cut:])
    y = np.array([LABEL in labels for labels in train[1]], dtype=int)
    y_test = np.array([LABEL in labels for labels in test[1]], dtype=int)
    print(f"{len(texts)} notes: train on the older {cut}, test on the newest {len(texts) - cut}; "
          f"bug share {y.mean():.3f} train, {y_test.mean():.3f} test", flush=True)

    rows, scores = {"original": original(train[0], y, test[0], y_test)}, {}
    rows["linear"], scores["linear"] = linear(train[0], y, test[0], y_test)
    (first, scores["ours"]), (second, _) = [ours(train, test, classifier.Params(seed=SEED)) for _ in range(2)]
    deterministic = all(first[key] == second[key] for key in ("accuracy", "precision", "recall", "f1", "threshold"))
    rows["ours"] = dict(first, train_s=statistics.median([first["train_s"], second["train_s"]]))
    rows["ours+labels"], scores["ours+labels"] = ours(train, test, classifier.Params(seed=SEED, label_features=True))
    kinds = [LABEL] + [kind for kind in classifier.kinds_of(train[1]) if kind != LABEL]
    rows["ours all-kinds"], _ = ours(train, test, classifier.Params(seed=SEED), labels=kinds)

    base = rows["original"]
    print(f"\n{'model':16}{'accuracy':>9}{'prec':>7}{'recall':>7}{'F1 bug':>8}{'train s':>9}{'pred ms':>9}"
          f"{'dF1':>8}{'dAcc':>8}{'time x':>8}")
    for name, row in rows.items():
        print(f"{name:16}{row['accuracy']:9.4f}{row['precision']:7.3f}{row['recall']:7.3f}{row['f1']:8.4f}"
              f"{row['train_s']:9.2f}{row['predict_ms']:9.2f}{row['f1'] - base['f1']:+8.4f}"
              f"{row['accuracy'] - base['accuracy']:+8.4f}{row['train_s'] / base['train_s']:8.3f}")
    multi = rows["ours all-kinds"]
    print(f"\nall kinds ({len(kinds)}): micro F1 {multi['micro_f1']:.4f}, macro F1 {multi['macro_f1']:.4f}")
    need = (base["accuracy"] + 0.02, base["f1"] + 0.04)
    ceilings = {name: ceiling(y_test, values, need) for name, values in scores.items()}
    spread = (base["accuracy"] * (1 - base["accuracy"]) / len(y_test)) ** 0.5
    print(f"\ntargets: accuracy >= {need[0]:.4f}, F1 >= {need[1]:.4f} (one standard error of accuracy on "
          f"{len(y_test)} notes: {spread:.4f}); the best any test-slice threshold reaches:")
    for name, best in ceilings.items():
        print(f"  {name:14} accuracy {best['accuracy']:.4f}  F1 {best['f1']:.4f}  {'reaches' if best['margin'] >= 0 else 'misses'} both")
    best = rows["ours"]
    targets = {
        "f1_plus_0.04": best["f1"] >= need[1],
        "accuracy_plus_0.02": best["accuracy"] >= need[0],
        "train_time_quarter": best["train_s"] <= base["train_s"] / 4,
        "predict_5ms": best["predict_ms"] <= 5,
        "deterministic": bool(deterministic),
    }
    targets = {name: bool(met) for name, met in targets.items()}
    for name, met in targets.items():
        print(f"target {name}: {'met' if met else 'NOT met'}")
    figures = {name: {key: round(float(value), 4) for key, value in row.items()} for name, row in rows.items()}
    figures["ceilings"] = {name: {key: round(float(value), 4) for key, value in best.items()} for name, best in ceilings.items()}
    print(json.dumps({"bench": "model", "split": "time 80/20 by PR number", "rows": figures, "targets": targets}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

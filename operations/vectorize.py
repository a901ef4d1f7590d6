"""Vectorization as DFFML operations: fit the features on release notes, turn a note into its vectors.

``k8s.fit_vectorizer`` writes the ``vectorizer.json`` and ``arrays.npz`` (idf vectors) that a
``k8s-mlp`` model directory also holds; ``k8s.transform_note`` reads either kind of directory.
Both are ``dffml_k8s_analysis.model.features`` (``fit_features``, ``transform``), which the
model itself trains and predicts with.
"""
import pathlib
from typing import Any, Dict, List, Optional

from dffml import Definition, op

from dffml_k8s_analysis.model import artifacts, classifier, features

from . import parse

NOTES = Definition(name="vectorize.notes", primitive="List[Dict[str, Any]]")  # [{"release_note", "labels"}, ...]
DIRECTORY = Definition(name="vectorize.directory", primitive="str", default="out/model")  # a model's, or OUT
OUT = Definition(name="vectorize.out", primitive="str", default="out/vectorizer")
LABELS = Definition(name="k8s.labels", primitive="List[str]", default=None)  # None: no labels
FITTED = Definition(name="vectorize.fitted", primitive="Dict[str, Any]")
VECTOR = Definition(name="vectorize.vector", primitive="Dict[str, Dict[str, float]]")  # input -> term -> weight


@op(name="k8s.fit_vectorizer", inputs={"notes": NOTES, "directory": OUT}, outputs={"fitted": FITTED})
def fit_vectorizer(notes: List[Dict[str, Any]], directory: str) -> Dict[str, Any]:
    """Fit the model's vectorizers (word, nb, char) on notes and their labels; save them in ``directory``."""
    if (pathlib.Path(directory) / "predictor.json").exists():
        raise ValueError(f"vectorize.out: {directory} holds a trained model; fit the vectorizer into another directory")
    texts = [note["release_note"] for note in notes]
    label_lists = [list(note.get("labels") or []) for note in notes]
    fitted, _ = features.fit_features(texts, label_lists, classifier.Params())
    artifacts.save_features(directory, fitted)
    sizes = {name: len(terms) for name, terms in fitted.vocab.items()}
    return {"fitted": {"directory": directory, "notes": len(texts), "features": sizes}}


@op(name="k8s.transform_note", inputs={"note": parse.RELEASE_NOTE, "labels": LABELS, "directory": DIRECTORY},
    outputs={"vector": VECTOR})
def transform_note(note: str, labels: Optional[List[str]], directory: str) -> Dict[str, Any]:
    """A note's vectors from a fitted directory (a model's or ``k8s.fit_vectorizer``'s): input -> term -> weight."""
    fitted = artifacts.load_features(directory)
    rows = features.transform(fitted, [note], None if labels is None else [labels])
    vectors = {}
    for name, row in rows.items():
        row = row.tocoo()
        terms = fitted.vocab[name]
        vectors[name] = {terms[column]: float(value) for column, value in zip(row.col, row.data)}
    return {"vector": vectors}

"""Vectorization as DFFML operations: fit the features on release notes, turn a note into its vector.

``k8s.fit_vectorizer`` writes the same ``vectorizer.json`` / ``arrays.npz`` / ``features.json``
a ``k8s-mlp`` model directory holds (without the weights); ``k8s.transform_note`` reads
either kind of directory. Both are ``dffml_k8s_analysis.model.vectorizer``, which the model
itself trains and predicts with.
"""
import pathlib
from typing import Any, Dict, List, Optional

from dffml import Definition, op

from dffml_k8s_analysis.model import artifacts, classifier

from . import parse

NOTES = Definition(name="vectorize.notes", primitive="List[Dict[str, Any]]")  # [{"release_note", "labels"}, ...]
LABEL = Definition(name="vectorize.label", primitive="str", default="kind/bug")
DIRECTORY = Definition(name="vectorize.directory", primitive="str", default="out/model")  # a model's, or OUT
OUT = Definition(name="vectorize.out", primitive="str", default="out/vectorizer")
LABELS = Definition(name="k8s.labels", primitive="List[str]", default=None)  # None: no labels
FITTED = Definition(name="vectorize.fitted", primitive="Dict[str, Any]")
VECTOR = Definition(name="vectorize.vector", primitive="Dict[str, float]")


@op(name="k8s.fit_vectorizer", inputs={"notes": NOTES, "label": LABEL, "directory": OUT},
    outputs={"fitted": FITTED})
def fit_vectorizer(notes: List[Dict[str, Any]], label: str, directory: str) -> Dict[str, Any]:
    """Fit TF-IDF and SelectKBest (the model's recipe) on notes and their labels; save them in ``directory``."""
    if (pathlib.Path(directory) / "predictor.json").exists():
        raise ValueError(f"vectorize.out: {directory} holds a trained model; fit the vectorizer into another directory")
    texts = [note["release_note"] for note in notes]
    label_lists = [list(note.get("labels") or []) for note in notes]
    params = classifier.Params()
    vectorizer, _ = classifier.fit_vectorizer(texts, label_lists, classifier.targets(label_lists, [label]), params)
    artifacts.save_vectorizer(directory, vectorizer)
    return {"fitted": {"directory": directory, "notes": len(texts), "features": len(vectorizer.columns)}}


@op(name="k8s.transform_note", inputs={"note": parse.RELEASE_NOTE, "labels": LABELS, "directory": DIRECTORY},
    outputs={"vector": VECTOR})
def transform_note(note: str, labels: Optional[List[str]], directory: str) -> Dict[str, Any]:
    """A note's feature vector from a fitted directory (a model's or ``k8s.fit_vectorizer``'s): term -> weight."""
    vectorizer = artifacts.load_vectorizer(directory)
    row = vectorizer.transform([note], [labels or []]).tocoo()
    names = vectorizer.feature_names
    return {"vector": {names[column]: float(value) for column, value in zip(row.col, row.data)}}

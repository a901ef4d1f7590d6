"""The ``k8s-mlp`` artifact directory: version-neutral files, written atomically, loaded with clear errors.

Nothing in it is a pickle or a Keras file, so a model trained on one stack (say Python 3.11,
Keras 2, scikit-learn 1.5) loads on another (Python 3.13, Keras 3, numpy 2) and gives the same
probabilities, and loading a directory can never run code from it:

- ``vectorizer.json``: the TfidfVectorizer's settings and its vocabulary, term by column;
- ``arrays.npz`` (no object arrays): ``idf``, the ``columns`` SelectKBest kept, and the MLP's
  weights ``w0``, ``w1``, ... in layer order (kernel, bias, kernel, bias, ...);
- ``features.json`` (the kept terms, for people), ``metrics.json``;
- ``predictor.json``: the format version, labels, thresholds and settings, written last, so
  that its presence means the directory is complete.
"""
import functools
import json
import os
import pathlib
import tempfile
from typing import Callable

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from .classifier import Predictor

FORMAT = 2  # 1 was pickles and model.keras
FILES = ("vectorizer.json", "arrays.npz", "features.json", "metrics.json", "predictor.json")
VECTORIZER_SETTINGS = ("analyzer", "binary", "lowercase", "max_df", "min_df", "ngram_range", "norm", "smooth_idf",
                       "strip_accents", "sublinear_tf", "token_pattern", "use_idf")
HOW_TO_TRAIN = "run `k8s-analysis train --model-dir {dir}` (or `dffml train -model k8s-mlp -model-directory {dir} ...`)"


class ArtifactError(ValueError):
    """A missing, incomplete or corrupted artifact directory."""


def atomic_write(path: pathlib.Path, write: Callable[[str], None]) -> None:
    """Call ``write(temporary path)`` beside ``path``, then move it into place."""
    handle, temporary = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_json(path: pathlib.Path, data) -> None:
    atomic_write(path, lambda name: pathlib.Path(name).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n"))


def write_arrays(path: pathlib.Path, arrays: dict) -> None:
    def dump(name):
        with open(name, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(path, dump)


def vectorizer_state(vectorizer: TfidfVectorizer) -> dict:
    settings = {key: value for key, value in vectorizer.get_params().items() if key in VECTORIZER_SETTINGS}
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    return {"settings": settings, "dtype": np.dtype(vectorizer.dtype).name, "vocabulary": vocabulary}


def vectorizer_from(state: dict, idf: np.ndarray) -> TfidfVectorizer:
    settings = dict(state["settings"], ngram_range=tuple(state["settings"]["ngram_range"]))
    vocabulary = {term: column for column, term in enumerate(state["vocabulary"])}
    vectorizer = TfidfVectorizer(vocabulary=vocabulary, dtype=np.dtype(state["dtype"]), **settings)
    vectorizer.idf_ = idf
    return vectorizer


def save(directory, predictor: Predictor, metrics: dict) -> pathlib.Path:
    """Write every artifact of a trained classifier into ``directory``."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stale = directory / "predictor.json"
    if stale.exists():
        stale.unlink()  # the directory is incomplete until the new one is written
    write_json(directory / "vectorizer.json", vectorizer_state(predictor.vectorizer))
    weights = {f"w{index}": np.asarray(weight) for index, weight in enumerate(predictor.weights)}
    write_arrays(directory / "arrays.npz", dict(weights, idf=predictor.vectorizer.idf_, columns=predictor.columns))
    write_json(directory / "features.json", predictor.feature_names)
    write_json(directory / "metrics.json", metrics)
    write_json(directory / "predictor.json", {
        "format": FORMAT, "labels": predictor.labels, "thresholds": predictor.thresholds,
        "label_features": predictor.label_features,
    })
    return directory


def load_predictor(directory) -> Predictor:
    """The Predictor of a trained artifact directory; ArtifactError says what is wrong and what to run."""
    directory = pathlib.Path(directory)
    advice = HOW_TO_TRAIN.format(dir=directory)
    if not directory.is_dir():
        raise ArtifactError(f"no trained k8s-mlp model: {directory} is not a directory; {advice}")
    if (directory / "predictor.json").is_file() and not (directory / "arrays.npz").is_file():
        if (directory / "vectorizer.pkl").exists():
            raise ArtifactError(f"{directory} holds a model of an older format (pickles), which is not loaded; {advice}")
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise ArtifactError(f"no complete k8s-mlp model in {directory}: missing {', '.join(missing)}; {advice}")
    current = directory / "predictor.json"
    try:
        meta = json.loads(current.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
        labels, thresholds = meta.get("labels"), meta.get("thresholds")
        if not (isinstance(labels, list) and labels and isinstance(thresholds, list) and len(thresholds) == len(labels)):
            raise ValueError("it needs one or more labels, each with a threshold")
        current = directory / "arrays.npz"
        with np.load(str(current), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        weights = [arrays[f"w{index}"] for index in range(sum(name[1:].isdigit() for name in arrays if name[0] == "w"))]
        current = directory / "vectorizer.json"
        vectorizer = vectorizer_from(json.loads(current.read_text()), arrays["idf"])
        current = directory / "predictor.json"
        predictor = Predictor(vectorizer, arrays["columns"], weights, meta["labels"], meta["thresholds"], meta["label_features"])
        predictor.predict([""])
    except Exception as error:  # any unreadable or inconsistent file
        raise ArtifactError(f"corrupted k8s-mlp model file {current}: {type(error).__name__}: {error}; {advice}") from error
    return predictor


@functools.lru_cache(maxsize=4)
def _cached(directory: str, stamp: int) -> Predictor:  # stamp: part of the cache key
    return load_predictor(directory)


def version(model_dir) -> tuple:
    """Which model files ``model_dir`` holds now: the real path and ``predictor.json``'s modification time.

    :func:`save` writes ``predictor.json`` last, and a swapped link changes the real path.
    """
    real = os.path.realpath(str(model_dir))
    try:
        return real, os.stat(os.path.join(real, "predictor.json")).st_mtime_ns
    except OSError:
        return real, 0


def cached_predictor(model_dir) -> Predictor:
    """The model of ``model_dir``, loaded once per :func:`version` (ArtifactError if none)."""
    return _cached(*version(model_dir))

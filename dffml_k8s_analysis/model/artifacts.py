"""The ``k8s-mlp`` artifact directory: version-neutral files, written atomically, loaded with clear errors.

Nothing in it is a pickle or a Keras file, so a model trained on one stack (say Python 3.11,
Keras 2, scikit-learn 1.5) loads on another (Python 3.13, Keras 3, numpy 2) and gives the same
probabilities, and loading a directory can never run code from it:

- ``vectorizer.json``: the TfidfVectorizer's settings and its vocabulary, term by column, and
  whether labels are features;
- ``arrays.npz`` (no object arrays): ``idf``, the ``columns`` SelectKBest kept, and the MLP's
  weights ``w0``, ``w1``, ... in layer order (kernel, bias, kernel, bias, ...);
- ``features.json`` (the kept terms, for people), ``metrics.json``;
- ``predictor.json``: the format version, labels, thresholds and settings, written last, so
  that its presence means the directory is complete.

A fitted vectorizer alone (``k8s.fit_vectorizer``) is the first three files, without weights.
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
from .vectorizer import Vectorizer

FORMAT = 2  # 1 was pickles and model.keras
VECTORIZER_FILES = ("vectorizer.json", "arrays.npz", "features.json")
FILES = VECTORIZER_FILES + ("metrics.json", "predictor.json")
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


def vectorizer_state(vectorizer: Vectorizer) -> dict:
    tfidf = vectorizer.tfidf
    settings = {key: value for key, value in tfidf.get_params().items() if key in VECTORIZER_SETTINGS}
    vocabulary = sorted(tfidf.vocabulary_, key=tfidf.vocabulary_.get)
    return {"settings": settings, "dtype": np.dtype(tfidf.dtype).name, "vocabulary": vocabulary,
            "label_features": vectorizer.label_features}


def vectorizer_from(state: dict, idf: np.ndarray, columns: np.ndarray, label_features: bool) -> Vectorizer:
    settings = dict(state["settings"], ngram_range=tuple(state["settings"]["ngram_range"]))
    vocabulary = {term: column for column, term in enumerate(state["vocabulary"])}
    tfidf = TfidfVectorizer(vocabulary=vocabulary, dtype=np.dtype(state["dtype"]), **settings)
    tfidf.idf_ = idf
    return Vectorizer(tfidf, np.asarray(columns), bool(label_features))


def prepare(directory) -> pathlib.Path:
    """``directory``, created, with no ``predictor.json``: incomplete until a new one is written."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stale = directory / "predictor.json"
    if stale.exists():
        stale.unlink()
    return directory


def save_vectorizer(directory, vectorizer: Vectorizer, weights=()) -> pathlib.Path:
    """Write a fitted vectorizer (and a model's ``weights`` beside its arrays) into ``directory``."""
    directory = prepare(directory)
    write_json(directory / "vectorizer.json", vectorizer_state(vectorizer))
    arrays = {f"w{index}": np.asarray(weight) for index, weight in enumerate(weights)}
    write_arrays(directory / "arrays.npz", dict(arrays, idf=vectorizer.tfidf.idf_, columns=vectorizer.columns))
    write_json(directory / "features.json", vectorizer.feature_names)
    return directory


def save(directory, predictor: Predictor, metrics: dict) -> pathlib.Path:
    """Write every artifact of a trained classifier into ``directory``."""
    directory = save_vectorizer(directory, predictor.vectorizer, predictor.weights)
    write_json(directory / "metrics.json", metrics)
    write_json(directory / "predictor.json", {
        "format": FORMAT, "labels": predictor.labels, "thresholds": predictor.thresholds,
        "label_features": predictor.vectorizer.label_features,
    })
    return directory


def check_complete(directory: pathlib.Path, files, what: str, advice: str) -> None:
    """ArtifactError unless ``directory`` holds ``files``; ``what``: "model" or "vectorizer"."""
    done = "trained" if what == "model" else "fitted"
    what = f"k8s-mlp {what}"
    if not directory.is_dir():
        raise ArtifactError(f"no {done} {what}: {directory} is not a directory; {advice}")
    missing = [name for name in files if not (directory / name).is_file()]
    if missing:
        raise ArtifactError(f"no complete {what} in {directory}: missing {', '.join(missing)}; {advice}")


class Reader:
    """Reads an artifact directory's files, remembering which one it is at for the error message."""

    def __init__(self, directory: pathlib.Path):
        self.directory, self.current = directory, directory

    def json(self, name: str):
        self.current = self.directory / name
        return json.loads(self.current.read_text())

    def arrays(self) -> dict:
        self.current = self.directory / "arrays.npz"
        with np.load(str(self.current), allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}

    def vectorizer(self, arrays: dict, label_features=None) -> Vectorizer:
        state = self.json("vectorizer.json")
        chosen = state.get("label_features", False) if label_features is None else label_features
        vectorizer = vectorizer_from(state, arrays["idf"], arrays["columns"], chosen)
        vectorizer.transform([""])
        return vectorizer

    def failed(self, error: Exception, advice: str) -> ArtifactError:
        return ArtifactError(f"corrupted k8s-mlp model file {self.current}: {type(error).__name__}: {error}; {advice}")


def load_vectorizer(directory) -> Vectorizer:
    """The fitted vectorizer of a vectorizer or model directory; ArtifactError says what is wrong."""
    directory = pathlib.Path(directory)
    advice = f"run the k8s.fit_vectorizer operation (or {HOW_TO_TRAIN.format(dir=directory)})"
    check_complete(directory, VECTORIZER_FILES, "vectorizer", advice)
    reader = Reader(directory)
    try:
        model = (directory / "predictor.json").is_file()
        return reader.vectorizer(reader.arrays(), reader.json("predictor.json")["label_features"] if model else None)
    except Exception as error:  # any unreadable or inconsistent file
        raise reader.failed(error, advice) from error


def load_predictor(directory) -> Predictor:
    """The Predictor of a trained artifact directory; ArtifactError says what is wrong and what to run."""
    directory = pathlib.Path(directory)
    advice = HOW_TO_TRAIN.format(dir=directory)
    if (directory / "predictor.json").is_file() and not (directory / "arrays.npz").is_file():
        if (directory / "vectorizer.pkl").exists():
            raise ArtifactError(f"{directory} holds a model of an older format (pickles), which is not loaded; {advice}")
    check_complete(directory, FILES, "model", advice)
    reader = Reader(directory)
    try:
        meta = reader.json("predictor.json")
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
        arrays = reader.arrays()
        weights = [arrays[f"w{index}"] for index in range(sum(name[1:].isdigit() for name in arrays if name[0] == "w"))]
        vectorizer = reader.vectorizer(arrays, meta["label_features"])
        reader.current = directory / "predictor.json"
        predictor = Predictor(vectorizer, weights, meta["labels"], meta["thresholds"])
        predictor.predict([""])
    except Exception as error:  # any unreadable or inconsistent file
        raise reader.failed(error, advice) from error
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

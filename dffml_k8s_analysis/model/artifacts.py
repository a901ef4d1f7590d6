"""The ``k8s-mlp`` artifact directory: write it atomically file by file, load it with clear errors.

Files: ``model.keras`` (the MLP), ``vectorizer.pkl``, ``selector.pkl``,
``features.json`` (the selected vocabulary), ``metrics.json`` and
``predictor.json`` (labels, thresholds, settings), written last so that its
presence means the directory is complete.
"""
import functools
import io
import json
import os
import pathlib
import pickle
import tempfile
from typing import Callable

from .classifier import Predictor

FILES = ("model.keras", "vectorizer.pkl", "selector.pkl", "features.json", "metrics.json", "predictor.json")
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


def write_pickle(path: pathlib.Path, value) -> None:
    def dump(name):
        with open(name, "wb") as fh:
            pickle.dump(value, fh, protocol=4)

    atomic_write(path, dump)


# Modules renamed since a model could have been saved, as its pickles name them:
# selector.pkl refers to its score function, max_f_classif, by module and name.
MOVED_MODULES = {"dffml_k8s_analysis.classifier": "dffml_k8s_analysis.model.classifier"}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return super().find_class(MOVED_MODULES.get(module, module), name)


def read_pickle(data: bytes):
    """Unpickle an artifact, also one written when its classes lived under their old module names."""
    return _Unpickler(io.BytesIO(data)).load()


def save(directory, predictor: Predictor, model, metrics: dict) -> pathlib.Path:
    """Write every artifact of a trained classifier into ``directory``."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stale = directory / "predictor.json"
    if stale.exists():
        stale.unlink()  # the directory is incomplete until the new one is written
    atomic_write(directory / "model.keras", model.save)
    write_pickle(directory / "vectorizer.pkl", predictor.vectorizer)
    write_pickle(directory / "selector.pkl", predictor.selector)
    names = predictor.vectorizer.get_feature_names_out()[predictor.selector.get_support()]
    write_json(directory / "features.json", names.tolist())
    write_json(directory / "metrics.json", metrics)
    write_json(
        directory / "predictor.json",
        {"labels": predictor.labels, "thresholds": predictor.thresholds, "label_features": predictor.label_features},
    )
    return directory


def load_predictor(directory) -> Predictor:
    """The Predictor of a trained artifact directory; ArtifactError says what is wrong and what to run."""
    directory = pathlib.Path(directory)
    advice = HOW_TO_TRAIN.format(dir=directory)
    if not directory.is_dir():
        raise ArtifactError(f"no trained k8s-mlp model: {directory} is not a directory; {advice}")
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise ArtifactError(f"no complete k8s-mlp model in {directory}: missing {', '.join(missing)}; {advice}")
    current = directory / "predictor.json"
    try:
        meta = json.loads(current.read_text())
        current = directory / "vectorizer.pkl"
        vectorizer = read_pickle(current.read_bytes())
        current = directory / "selector.pkl"
        selector = read_pickle(current.read_bytes())
        current = directory / "model.keras"
        weights = load_weights(current)
        predictor = Predictor(vectorizer, selector, weights, meta["labels"], meta["thresholds"], meta["label_features"])
        predictor.predict([""])
    except Exception as error:  # any unreadable or inconsistent file
        raise ArtifactError(f"corrupted k8s-mlp model file {current}: {type(error).__name__}: {error}; {advice}") from error
    return predictor


def load_weights(path: pathlib.Path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf.keras.models.load_model(str(path), compile=False).get_weights()


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

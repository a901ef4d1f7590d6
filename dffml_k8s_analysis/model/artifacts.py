"""The ``k8s-mlp`` artifact directory: version-neutral files, written atomically, loaded with clear errors.

Nothing in it is a pickle or a Keras file, so a model trained on one stack (say Python 3.11,
Keras 2, scikit-learn 1.5) loads on another (Python 3.13, Keras 3, numpy 2) and gives the same
probabilities, and loading a directory can never run code from it:

- ``vectorizer.json``: the feature settings and each input's vocabulary, term by column;
- ``arrays.npz`` (no object arrays): the idf vectors (``word_idf``, ``char_idf``), the linear
  members' coefficients and biases, the MLP's word columns (``mlp_cols``) and its weights
  ``mlp_w0``..``mlp_w3`` (kernel, bias, kernel, bias);
- ``features.json`` (the MLP's word features, for people), ``metrics.json``;
- ``predictor.json``: the format version, labels, thresholds and the labels learned, written
  last, so that its presence means the directory is complete.
"""
import functools
import json
import os
import pathlib
import tempfile
from typing import Callable

import numpy as np

from .classifier import Predictor
from .features import Features

FORMAT = 3  # 1 was pickles and model.keras, 2 TF-IDF -> SelectKBest -> MLP alone
FILES = ("vectorizer.json", "arrays.npz", "features.json", "metrics.json", "predictor.json")
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


def save(directory, predictor: Predictor, metrics: dict) -> pathlib.Path:
    """Write every artifact of a trained classifier into ``directory``."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stale = directory / "predictor.json"
    if stale.exists():
        stale.unlink()  # the directory is incomplete until the new one is written
    vectorizer, idf = predictor.features.state()
    write_json(directory / "vectorizer.json", vectorizer)
    write_arrays(directory / "arrays.npz", dict(predictor.arrays, **idf))
    write_json(directory / "features.json", predictor.feature_names)
    write_json(directory / "metrics.json", metrics)
    write_json(directory / "predictor.json", {
        "format": FORMAT, "labels": predictor.labels, "thresholds": predictor.thresholds, "active": predictor.active,
    })
    return directory


def load_predictor(directory) -> Predictor:
    """The Predictor of a trained artifact directory; ArtifactError says what is wrong and what to run."""
    directory = pathlib.Path(directory)
    advice = HOW_TO_TRAIN.format(dir=directory)
    if not directory.is_dir():
        raise ArtifactError(f"no trained k8s-mlp model: {directory} is not a directory; {advice}")
    older = older_format(directory)
    if older:
        raise ArtifactError(f"{directory} holds a model of an older format ({older}), which is not loaded; {advice}")
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise ArtifactError(f"no complete k8s-mlp model in {directory}: missing {', '.join(missing)}; {advice}")
    current = directory / "predictor.json"
    try:
        meta = json.loads(current.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
        current = directory / "arrays.npz"
        with np.load(str(current), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        current = directory / "vectorizer.json"
        features = Features.from_state(json.loads(current.read_text()), arrays)
        current = directory / "predictor.json"
        predictor = Predictor(features, arrays, meta["labels"], meta["thresholds"], meta["active"])
        predictor.predict([""], [[]])
    except Exception as error:  # any unreadable or inconsistent file
        raise ArtifactError(f"corrupted k8s-mlp model file {current}: {type(error).__name__}: {error}; {advice}") from error
    return predictor


def older_format(directory: pathlib.Path) -> str:
    """What older model ``directory`` holds ("pickles", "format 2"), or "" when none."""
    if (directory / "vectorizer.pkl").exists() or (directory / "model.keras").exists():
        return "pickles"
    try:
        found = json.loads((directory / "predictor.json").read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        return ""
    return f"format {found}" if isinstance(found, int) and not isinstance(found, bool) and found < FORMAT else ""


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

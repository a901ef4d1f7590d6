"""The ``k8s-mlp`` artifact directory: version-neutral files, written atomically, loaded with clear errors.

Nothing in it is a pickle or a Keras file, so a model trained on one stack (say Python 3.11,
Keras 2, scikit-learn 1.5) loads on another (Python 3.13, Keras 3, numpy 2) and gives the same
probabilities, and loading a directory can never run code from it:

- ``vectorizer.json``: the feature settings and each input's vocabulary, term by column;
- ``arrays.npz`` (no object arrays): the idf vectors (``word_idf``, ``char_idf``), the linear
  members' coefficients and biases, the MLP's word columns (``mlp_cols``) and its weights
  ``mlp_w0``..``mlp_w3`` (kernel, bias, kernel, bias), and the SIG router's ``sig_coef``/``sig_bias``;
- ``features.json`` (the MLP's word features, for people), ``metrics.json``;
- ``predictor.json``: the format version, labels, thresholds, the labels learned, the first
  label's acting threshold (``act``) and the router's SIGs (``sigs``, empty without) and
  ``confident`` threshold, written
  last, so that its presence means the directory is complete.
"""
import functools
import json
import math
import os
import pathlib
import zipfile
from typing import Dict, Tuple

import numpy as np

from ..atomic import atomic_write, write_text

from .classifier import Predictor
from .features import Features

FORMAT = 4  # 1 was pickles and model.keras, 2 TF-IDF -> SelectKBest -> MLP alone, 3 without the act band
VECTORIZER_FILES = ("vectorizer.json", "arrays.npz")  # what the k8s.fit_vectorizer operation writes
FILES = VECTORIZER_FILES + ("features.json", "metrics.json", "predictor.json")
IDF_ARRAYS = frozenset({"word_idf", "char_idf"})
ARRAYS = IDF_ARRAYS | {f"{member}_{part}" for member in ("word", "nb", "char") for part in ("coef", "bias")} | {
    "mlp_cols", "mlp_w0", "mlp_w1", "mlp_w2", "mlp_w3"}  # what a Predictor uses: nothing else is loaded
SIG_ARRAYS = frozenset({"sig_coef", "sig_bias"})  # the SIG router's, in a model trained with --sigs
# Bounds, checked before anything is allocated, so that a serving pod (768 MiB) holds two versions (the serving
# one and a canary) beside the process: a file's size on disk or in an archive, and a model's arrays as loaded
# (arrays.npz's headers, plus the MLP's first layer the Predictor expands over the word vocabulary).
MAX_BYTES = {"vectorizer.json": 32 << 20, "arrays.npz": 129 << 20, "features.json": 4 << 20,
             "metrics.json": 1 << 20, "predictor.json": 1 << 20}
MAX_ARRAY_BYTES = 128 << 20
HOW_TO_TRAIN = "run `k8s-analysis train --model-dir {dir}` (or `dffml train -model k8s-mlp -model-directory {dir} ...`)"


class ArtifactError(ValueError):
    """A missing, incomplete or corrupted artifact directory."""


def write_json(path: pathlib.Path, data) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_arrays(path: pathlib.Path, arrays: dict) -> None:
    def dump(name):
        with open(name, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(path, dump)


def _prepare(directory) -> pathlib.Path:
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stale = directory / "predictor.json"
    if stale.exists():
        stale.unlink()  # the directory is incomplete until the new one is written
    return directory


def save_features(directory, features: Features, arrays: dict = None) -> pathlib.Path:
    """Write fitted features (and a model's ``arrays`` beside their idf vectors) into ``directory``."""
    directory = _prepare(directory)
    vectorizer, idf = features.state()
    write_json(directory / "vectorizer.json", vectorizer)
    write_arrays(directory / "arrays.npz", dict(arrays or {}, **idf))
    return directory


def save(directory, predictor: Predictor, metrics: dict) -> pathlib.Path:
    """Write every artifact of a trained classifier into ``directory``."""
    directory = save_features(directory, predictor.features, predictor.arrays)
    write_json(directory / "features.json", predictor.feature_names)
    write_json(directory / "metrics.json", metrics)
    write_json(directory / "predictor.json", {
        "format": FORMAT, "labels": predictor.labels, "thresholds": predictor.thresholds, "active": predictor.active,
        "act": predictor.act, "sigs": predictor.sigs, "confident": predictor.confident,
    })
    return directory


class _Reader:
    """Reads one directory's files, remembering which one it is at for the error message."""

    def __init__(self, directory: pathlib.Path):
        self.directory, self.current = directory, directory

    def json(self, name: str):
        self.current = self.directory / name
        check_size(self.current)
        return json.loads(self.current.read_text())

    def shapes(self, allowed, required) -> Dict[str, Tuple[tuple, np.dtype]]:
        self.current = self.directory / "arrays.npz"
        check_size(self.current)
        return array_headers(self.current, allowed, required)

    def arrays(self) -> dict:
        self.current = self.directory / "arrays.npz"
        with np.load(str(self.current), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        for name, array in arrays.items():  # a NaN or an infinity answers NaN, which is not JSON
            if not np.isfinite(array).all():
                raise ValueError(f"array {name} holds a number that is not finite")
        return arrays

    def failed(self, error: Exception, advice: str) -> ArtifactError:
        return ArtifactError(f"corrupted k8s-mlp model file {self.current}: {type(error).__name__}: {error}; {advice}")


def check_size(path: pathlib.Path) -> None:
    size, limit = path.stat().st_size, MAX_BYTES[path.name]
    if size > limit:
        raise ValueError(f"{size} bytes, over the limit of {limit}")


def array_headers(path, allowed, required) -> Dict[str, Tuple[tuple, np.dtype]]:
    """Each array's (shape, dtype) in ``path`` (an .npz), read from the headers alone: only numeric arrays,
    named in ``allowed``, all of ``required``, at most :data:`MAX_ARRAY_BYTES` in all; ValueError otherwise."""
    found, total = {}, 0
    with zipfile.ZipFile(str(path)) as npz:
        members = npz.infolist()
        names = [member.filename[:-4] if member.filename.endswith(".npy") else member.filename for member in members]
        unexpected = sorted(set(names) - set(allowed)) or sorted({name for name in names if names.count(name) > 1})
        if unexpected:
            raise ValueError(f"arrays the model does not use: {', '.join(map(ascii, unexpected[:5]))}")
        missing = sorted(set(required) - set(names))
        if missing:
            raise ValueError(f"missing arrays {', '.join(missing)}")
        for name, member in zip(names, members):
            with npz.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
                else:
                    raise ValueError(f"array {name}: .npy format {version} is not read")
            if dtype.hasobject or dtype.kind not in "biuf":
                raise ValueError(f"array {name} holds {dtype}, not numbers")
            total += math.prod(shape) * dtype.itemsize
            if total > MAX_ARRAY_BYTES:
                raise ValueError(f"its arrays exceed {MAX_ARRAY_BYTES} bytes (at {name}, shape {shape})")
            found[name] = (tuple(shape), dtype)
    return found


def _check_complete(directory: pathlib.Path, names, what: str, advice: str) -> None:
    if not directory.is_dir():
        raise ArtifactError(f"no trained k8s-mlp {what}: {directory} is not a directory; {advice}")
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise ArtifactError(f"no complete k8s-mlp {what} in {directory}: missing {', '.join(missing)}; {advice}")


def load_features(directory) -> Features:
    """The fitted features of a model directory or of one the k8s.fit_vectorizer operation wrote."""
    directory = pathlib.Path(directory)
    advice = f"run the k8s.fit_vectorizer operation (or {HOW_TO_TRAIN.format(dir=directory)})"
    _check_complete(directory, VECTORIZER_FILES, "vectorizer", advice)
    reader = _Reader(directory)
    try:
        reader.shapes(ARRAYS | SIG_ARRAYS, IDF_ARRAYS)
        vectorizer = reader.json("vectorizer.json")
        return Features.from_state(vectorizer, reader.arrays())
    except Exception as error:  # any unreadable or inconsistent file
        raise reader.failed(error, advice) from error


def load_predictor(directory) -> Predictor:
    """The Predictor of a trained artifact directory; ArtifactError says what is wrong and what to run."""
    directory = pathlib.Path(directory)
    advice = HOW_TO_TRAIN.format(dir=directory)
    older = older_format(directory) if directory.is_dir() else ""
    if older:
        raise ArtifactError(f"{directory} holds a model of an older format ({older}), which is not loaded; {advice}")
    _check_complete(directory, FILES, "model", advice)
    reader = _Reader(directory)
    try:
        meta = reader.json("predictor.json")
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
        labels, thresholds = meta.get("labels"), meta.get("thresholds")
        if not (isinstance(labels, list) and labels and isinstance(thresholds, list) and len(thresholds) == len(labels)):
            raise ValueError("it needs one or more labels, each with a threshold")
        shapes = reader.shapes(ARRAYS | SIG_ARRAYS, ARRAYS | (SIG_ARRAYS if meta.get("sigs") else frozenset()))
        vectorizer = reader.json("vectorizer.json")
        expanded = len(vectorizer["vocab"]["word"]) * shapes["mlp_w0"][0][-1] * 8  # the Predictor's first layer
        if sum(math.prod(shape) * dtype.itemsize for shape, dtype in shapes.values()) + expanded > MAX_ARRAY_BYTES:
            raise ValueError(f"its MLP's first layer ({expanded} bytes) and arrays exceed {MAX_ARRAY_BYTES} bytes")
        arrays = reader.arrays()
        features = Features.from_state(vectorizer, arrays)
        reader.current = directory / "predictor.json"
        for name, value in [("act", meta.get("act")), ("confident", meta.get("confident"))] + [
                ("threshold", threshold) for threshold in thresholds]:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        sigs = meta.get("sigs")
        if not (isinstance(sigs, list) and all(isinstance(sig, str) for sig in sigs)):
            raise ValueError(f"sigs must be a list of strings, got {sigs!r}")
        predictor = Predictor(features, arrays, meta["labels"], meta["thresholds"], meta["active"], meta["act"], sigs,
                              meta["confident"])
        predictor.predict([""], [[]])
        if sigs:
            predictor.route([""])
    except Exception as error:  # any unreadable or inconsistent file
        raise reader.failed(error, advice) from error
    return predictor


def older_format(directory: pathlib.Path) -> str:
    """What older model ``directory`` holds ("pickles", "format 2"), or "" when none."""
    if (directory / "vectorizer.pkl").exists() or (directory / "model.keras").exists():
        return "pickles"
    try:
        check_size(directory / "predictor.json")
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

"""Versions of the serving model: train a candidate, gate it on the example notes, promote it.

Where versions live is the registry's concern (:mod:`.registry`: a directory or a store); this
module trains and gates, and keeps the directory home. The serving model directory ``MODEL_DIR`` is a symbolic link to one of
``MODEL_DIR.versions/STAMP``. Each version records the data version it learned
from (the store's high-water mark and item count), so the daily pipeline
retrains only when the data changed. :func:`promote` swaps the link with
``os.replace``, so the service never sees a half-written model; the previous
version is kept.
"""
import json
import os
import pathlib
import re
import shutil
from typing import Any, Dict

from .. import timeutil
from ..store import open_store
from .examples import EXAMPLES

VERSION_FILE = "data-version.json"
KEEP_VERSIONS = 2
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a version's name: never a path, never a line break


def is_name(name) -> bool:
    """Whether ``name`` is a version's name (:data:`NAME`): letters, digits, ``._-``, not starting with a dot."""
    return isinstance(name, str) and NAME.fullmatch(name) is not None


def shown(name) -> str:
    """``name`` fit for one log line: as it is when it is a name, else quoted with its escapes."""
    return name if is_name(name) else ascii(name)


def data_version(store) -> Dict[str, Any]:
    """What a store holds now: its high-water mark and how many items."""
    with open_store(store) as db:
        return {"high_water": db.sync.get("high_water"), "items": db.count()["items"]}


def new_stamp() -> str:
    """A new version's name: the UTC time, so that stamps sort as they were made."""
    return timeutil.now().strftime("%Y%m%dT%H%M%S%f")


async def train_candidate(store, candidate: str, version: Dict[str, Any]) -> int:
    """Train k8s-mlp on the store's release notes into the directory ``candidate``; how many notes it learned."""
    from dffml import train

    from ..records import training_data
    from .plugin import K8sMLPModel

    texts, label_lists = training_data.from_store(store)
    if not texts:
        raise ValueError(f"store {store} has no pull request with a release note to learn from")
    model = K8sMLPModel(directory=candidate)
    await train(model, *[{"release_note": text, "labels": labels} for text, labels in zip(texts, label_lists)])
    (pathlib.Path(candidate) / VERSION_FILE).write_text(json.dumps(version))
    return len(texts)


def gate(candidate: str) -> Dict[str, Any]:
    """Run the example notes through a candidate: how many there are, the ones it got wrong, its validation figures."""
    from .artifacts import load_predictor

    predictor = load_predictor(candidate)
    probabilities = predictor.predict([text for text, _ in EXAMPLES])
    failed = [text for (text, expected), p in zip(EXAMPLES, probabilities) if (p >= predictor.threshold) != expected]
    validation = json.loads((pathlib.Path(candidate) / "metrics.json").read_text()).get("validation")
    return {"examples": len(EXAMPLES), "failed": failed, "validation": validation}


def versions_dir(model_dir: str) -> pathlib.Path:
    """Where the trained versions live: ``MODEL_DIR.versions/STAMP``."""
    return pathlib.Path(model_dir + ".versions")


def serving_version(model_dir: str):
    """The data version the serving model was trained on, None when there is none."""
    path = pathlib.Path(model_dir) / VERSION_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def promote(candidate: str, model_dir: str) -> None:
    """Atomically point the ``model_dir`` link at ``candidate``; keep the newest versions."""
    link = pathlib.Path(model_dir)
    if link.exists() and not link.is_symlink():  # a model trained by hand: keep it beside the versions
        link.rename(versions_dir(model_dir) / "manual")
    temporary = link.with_name(link.name + ".link")
    if temporary.is_symlink():
        temporary.unlink()
    os.symlink(os.path.relpath(candidate, link.parent), temporary)
    os.replace(temporary, link)
    stamps = sorted(path for path in versions_dir(model_dir).iterdir() if path.name != "manual")
    for old in stamps[:-KEEP_VERSIONS]:
        shutil.rmtree(old)

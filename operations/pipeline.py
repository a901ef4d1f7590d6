"""The daily loop as DFFML operations: update, retrain when the data changed, gate, promote.

Each step passes one ``pipeline.state`` dict on to the next, so the whole
loop reads top to bottom in ``dataflows/pipeline.yaml``:

1. ``pipeline_update``: the update dataflow on the store; the data version is
   the store's high-water mark and item count.
2. ``pipeline_train``: when that version differs from the serving model's,
   train a candidate with ``k8s-mlp`` on the store's release notes.
3. ``pipeline_gate``: the ``predict --test`` example notes; a candidate that
   misclassifies one is not promoted.
4. ``pipeline_promote`` (output stage): point ``model_dir`` at the candidate.
   ``model_dir`` is a symbolic link swapped with ``os.replace``, so the
   service never sees a half-written model; the previous version is kept.
"""
import datetime
import json
import os
import pathlib
import shutil
from typing import Any, Dict

from dffml import Definition, Input, Stage, op

from . import github as export_ops

MODEL_DIR = Definition(name="pipeline.model_dir", primitive="str", default="out/model")
STATE = Definition(name="pipeline.state", primitive="Dict[str, Any]")
TRAINED = Definition(name="pipeline.trained", primitive="Dict[str, Any]")
GATED = Definition(name="pipeline.gated", primitive="Dict[str, Any]")
REPORT = Definition(name="pipeline.report", primitive="Dict[str, Any]")
VERSION_FILE = "data-version.json"
KEEP_VERSIONS = 2


@op(
    name="k8s.pipeline_update",
    inputs={"repo": export_ops.REPO, "base_url": export_ops.BASE_URL, "store": export_ops.STORE,
            "model_dir": MODEL_DIR, "quiet": export_ops.QUIET},
    outputs={"state": STATE},
)
async def pipeline_update(repo: str, base_url: str, store: str, model_dir: str, quiet: bool) -> Dict[str, Any]:
    """Bring the store up to date; say whether it differs from what the serving model learned."""
    from dffml_k8s_analysis import flows
    from dffml_k8s_analysis.store.sqlite import Store, default_path

    inputs = [Input(value=value, definition=definition) for value, definition in (
        (repo, export_ops.REPO), (base_url, export_ops.BASE_URL), (store, export_ops.STORE),
        (quiet, export_ops.QUIET))]
    summary = (await flows.run_flow(flows.UPDATE, inputs))["summary"]
    store = store or str(default_path(repo))
    with Store(store, create=False) as db:
        version = {"high_water": db.get("high_water"), "items": db.count()["items"]}
    return {"state": {
        "store": store, "model_dir": model_dir, "update": summary, "version": version,
        "changed": version != serving_version(model_dir),
    }}


@op(name="k8s.pipeline_train", inputs={"state": STATE}, outputs={"state": TRAINED})
async def pipeline_train(state: Dict[str, Any]) -> Dict[str, Any]:
    """Train a candidate next to ``model_dir`` when the data changed."""
    from dffml import train

    from dffml_k8s_analysis.model.plugin import K8sMLPModel
    from dffml_k8s_analysis.records import training_data

    if not state["changed"]:
        return {"state": dict(state, candidate=None)}
    texts, label_lists = training_data.from_store(state["store"])
    if not texts:
        raise ValueError(f"store {state['store']} has no pull request with a release note to learn from")
    stamp = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%S%f")
    candidate = versions_dir(state["model_dir"]) / stamp
    model = K8sMLPModel(directory=str(candidate))
    await train(model, *[{"release_note": text, "labels": labels} for text, labels in zip(texts, label_lists)])
    (candidate / VERSION_FILE).write_text(json.dumps(state["version"]))
    return {"state": dict(state, candidate=str(candidate), trained_on=len(texts))}


@op(name="k8s.pipeline_gate", inputs={"state": TRAINED}, outputs={"state": GATED})
def pipeline_gate(state: Dict[str, Any]) -> Dict[str, Any]:
    """Run the example notes through the candidate; record which it got right."""
    from dffml_k8s_analysis.model.artifacts import load_predictor
    from dffml_k8s_analysis.model.examples import EXAMPLES

    if state["candidate"] is None:
        return {"state": dict(state, gate=None)}
    predictor = load_predictor(state["candidate"])
    probabilities = predictor.predict([text for text, _ in EXAMPLES])
    failed = [text for (text, expected), p in zip(EXAMPLES, probabilities) if (p >= predictor.threshold) != expected]
    return {"state": dict(state, gate={"examples": len(EXAMPLES), "failed": failed})}


@op(name="k8s.pipeline_promote", inputs={"state": GATED}, outputs={"report": REPORT}, stage=Stage.OUTPUT)
def pipeline_promote(state: Dict[str, Any]) -> Dict[str, Any]:
    """Serve the candidate if it passed the gate; report what happened and why."""
    if state["candidate"] is None:
        return {"report": dict(state, promoted=False, why="data unchanged since the serving model was trained")}
    if state["gate"]["failed"]:
        return {"report": dict(state, promoted=False,
                               why=f"gate failed on {len(state['gate']['failed'])} example notes")}
    promote(state["candidate"], state["model_dir"])
    return {"report": dict(state, promoted=True, why="new data, gate passed")}


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

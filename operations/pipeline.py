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

Training, the gate and the promotion are ``dffml_k8s_analysis.model.versions``.
"""
from typing import Any, Dict

from dffml import Definition, Input, Stage, op, run

from dffml_k8s_analysis.model import versions
from dffml_k8s_analysis.store import repo_spec

from . import github as export_ops

MODEL_DIR = Definition(name="pipeline.model_dir", primitive="str", default="out/model")
STATE = Definition(name="pipeline.state", primitive="Dict[str, Any]")
TRAINED = Definition(name="pipeline.trained", primitive="Dict[str, Any]")
GATED = Definition(name="pipeline.gated", primitive="Dict[str, Any]")
REPORT = Definition(name="pipeline.report", primitive="Dict[str, Any]")


@op(
    name="k8s.pipeline_update",
    inputs={"repo": export_ops.REPO, "base_url": export_ops.BASE_URL, "store": export_ops.STORE,
            "model_dir": MODEL_DIR, "quiet": export_ops.QUIET},
    outputs={"state": STATE},
)
async def pipeline_update(repo: str, base_url: str, store: str, model_dir: str, quiet: bool) -> Dict[str, Any]:
    """Bring the store up to date (the update dataflow); say whether it differs from what the serving model learned."""
    inputs = [Input(value=value, definition=definition) for value, definition in (
        (repo, export_ops.REPO), (base_url, export_ops.BASE_URL), (store, export_ops.STORE),
        (quiet, export_ops.QUIET))]
    async for _ctx, results in run(export_ops.export_flow("update"), inputs):  # one context
        summary = results["summary"]
    store = repo_spec(store, repo)
    version = versions.data_version(store)
    return {"state": {
        "store": store, "model_dir": model_dir, "update": summary, "version": version,
        "changed": version != versions.serving_version(model_dir),
    }}


@op(name="k8s.pipeline_train", inputs={"state": STATE}, outputs={"state": TRAINED})
async def pipeline_train(state: Dict[str, Any]) -> Dict[str, Any]:
    """Train a candidate next to ``model_dir`` when the data changed."""
    if not state["changed"]:
        return {"state": dict(state, candidate=None)}
    candidate, trained_on = await versions.train_candidate(state["store"], state["model_dir"], state["version"])
    return {"state": dict(state, candidate=candidate, trained_on=trained_on)}


@op(name="k8s.pipeline_gate", inputs={"state": TRAINED}, outputs={"state": GATED})
def pipeline_gate(state: Dict[str, Any]) -> Dict[str, Any]:
    """Run the example notes through the candidate; record which it got right."""
    if state["candidate"] is None:
        return {"state": dict(state, gate=None)}
    return {"state": dict(state, gate=versions.gate(state["candidate"]))}


@op(name="k8s.pipeline_promote", inputs={"state": GATED}, outputs={"report": REPORT}, stage=Stage.OUTPUT)
def pipeline_promote(state: Dict[str, Any]) -> Dict[str, Any]:
    """Serve the candidate if it passed the gate; report what happened and why."""
    if state["candidate"] is None:
        return {"report": dict(state, promoted=False, why="data unchanged since the serving model was trained")}
    if state["gate"]["failed"]:
        return {"report": dict(state, promoted=False,
                               why=f"gate failed on {len(state['gate']['failed'])} example notes")}
    versions.promote(state["candidate"], state["model_dir"])
    return {"report": dict(state, promoted=True, why="new data, gate passed")}

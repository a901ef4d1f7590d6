"""The daily loop as DFFML operations: update, decide the canary, retrain when the data changed, gate, roll out.

Each step passes one ``pipeline.state`` dict on to the next, so the whole
loop reads top to bottom in ``dataflows/pipeline.yaml``:

1. ``pipeline_update``: the update dataflow on the store (not in a dry run); the
   data version is the store's high-water mark and item count.
2. ``pipeline_canary``: a canary whose soak is over is promoted if it holds
   and rolled back if not (``dffml_k8s_analysis.model.canary``); one still
   soaking keeps its place, and no candidate is trained meanwhile.
3. ``pipeline_train``: when the data version differs from the newest model
   version's, train a candidate with ``k8s-mlp`` on the store's release notes
   (in a dry run always, into a temporary directory).
4. ``pipeline_gate``: the ``predict --test`` example notes; a candidate that
   misclassifies one is not rolled out.
5. ``pipeline_promote`` (output stage): with ``pipeline.dry_run`` nothing more
   (a dry run writes nothing and sends GitHub no request);
   otherwise the candidate is stored in the registry (``pipeline.model_dir``: a
   directory or a store, ``dffml_k8s_analysis.model.registry``) and becomes the
   canary for ``pipeline.canary_share`` of predictions during
   ``pipeline.canary_soak`` seconds, or, with a share of 0, a directory
   registry (which has no canary) or no model serving yet, serves all traffic
   at once.
"""
import dataclasses
import os
import shutil
import tempfile
from typing import Any, Dict

from dffml import Definition, Input, Stage, op, run

from dffml_k8s_analysis.model import canary, registry, versions
from dffml_k8s_analysis.store import repo_spec

from . import github as export_ops

MODEL_DIR = Definition(name="pipeline.model_dir", primitive="str", default="out/model")  # the registry's spec
DRY_RUN = Definition(name="pipeline.dry_run", primitive="bool", default=False)
SHARE = Definition(name="pipeline.canary_share", primitive="float", default=canary.Policy.share)
SOAK = Definition(name="pipeline.canary_soak", primitive="float", default=canary.Policy.soak_s)
MIN_REQUESTS = Definition(name="pipeline.canary_min_requests", primitive="int", default=canary.Policy.min_requests)
MIN_AGREEMENT = Definition(name="pipeline.canary_min_agreement", primitive="float",
                           default=canary.Policy.min_agreement)
MAX_ERRORS = Definition(name="pipeline.canary_max_errors", primitive="int", default=canary.Policy.max_errors)
MAX_LATENCY_RATIO = Definition(name="pipeline.canary_max_latency_ratio", primitive="float",
                               default=canary.Policy.max_latency_ratio)
STATE = Definition(name="pipeline.state", primitive="Dict[str, Any]")
DECIDED = Definition(name="pipeline.decided", primitive="Dict[str, Any]")
TRAINED = Definition(name="pipeline.trained", primitive="Dict[str, Any]")
GATED = Definition(name="pipeline.gated", primitive="Dict[str, Any]")
REPORT = Definition(name="pipeline.report", primitive="Dict[str, Any]")


@op(
    name="k8s.pipeline_update",
    inputs={"repo": export_ops.REPO, "base_url": export_ops.BASE_URL, "store": export_ops.STORE,
            "model_dir": MODEL_DIR, "quiet": export_ops.QUIET, "dry_run": DRY_RUN},
    outputs={"state": STATE},
)
async def pipeline_update(repo: str, base_url: str, store: str, model_dir: str, quiet: bool,
                          dry_run: bool) -> Dict[str, Any]:
    """Bring the store up to date (the update dataflow; a dry run leaves it as it is) and read its data version."""
    registry.open_registry(model_dir)  # an empty spec fails before the update
    summary = None
    if not dry_run:
        inputs = [Input(value=value, definition=definition) for value, definition in (
            (repo, export_ops.REPO), (base_url, export_ops.BASE_URL), (store, export_ops.STORE),
            (quiet, export_ops.QUIET))]
        async for _ctx, results in run(export_ops.export_flow("update"), inputs):  # one context
            summary = results["summary"]
    store = repo_spec(store, repo)
    return {"state": {"store": store, "model_dir": model_dir, "update": summary,
                      "version": versions.data_version(store)}}


@op(
    name="k8s.pipeline_canary",
    inputs={"state": STATE, "dry_run": DRY_RUN, "share": SHARE, "soak": SOAK, "min_requests": MIN_REQUESTS,
            "min_agreement": MIN_AGREEMENT, "max_errors": MAX_ERRORS, "max_latency_ratio": MAX_LATENCY_RATIO},
    outputs={"state": DECIDED},
)
def pipeline_canary(state: Dict[str, Any], dry_run: bool, share: float, soak: float, min_requests: int,
                    min_agreement: float, max_errors: int, max_latency_ratio: float) -> Dict[str, Any]:
    """Promote or roll back a canary whose soak is over (not in a dry run); say whether the data changed."""
    policy = canary.Policy(share, soak, min_requests, min_agreement, max_errors, max_latency_ratio)
    models = registry.open_registry(state["model_dir"])
    decided = None if dry_run or not models.canaries else canary.decide(models, policy)
    changed = state["version"] != models.latest_data_version()
    return {"state": dict(state, canary=decided, changed=changed, dry_run=dry_run, policy=dataclasses.asdict(policy))}


@op(name="k8s.pipeline_train", inputs={"state": DECIDED}, outputs={"state": TRAINED})
async def pipeline_train(state: Dict[str, Any]) -> Dict[str, Any]:
    """Train a candidate when the data changed and no canary is soaking, or in a dry run (into a temporary directory)."""
    if not state["dry_run"] and (not state["changed"] or (state["canary"] or {}).get("decision") == "soaking"):
        return {"state": dict(state, candidate=None)}
    stamp = versions.new_stamp()
    candidate = (os.path.join(tempfile.mkdtemp(prefix="k8s-analysis-dry-run-"), stamp) if state["dry_run"]
                 else registry.open_registry(state["model_dir"]).train_dir(stamp))
    trained_on = await versions.train_candidate(state["store"], candidate, state["version"])
    return {"state": dict(state, candidate=candidate, trained_on=trained_on)}


@op(name="k8s.pipeline_gate", inputs={"state": TRAINED}, outputs={"state": GATED})
def pipeline_gate(state: Dict[str, Any]) -> Dict[str, Any]:
    """Run the example notes through the candidate; record which it got right."""
    if state["candidate"] is None:
        return {"state": dict(state, gate=None)}
    return {"state": dict(state, gate=versions.gate(state["candidate"]))}


@op(name="k8s.pipeline_promote", inputs={"state": GATED}, outputs={"report": REPORT}, stage=Stage.OUTPUT)
def pipeline_promote(state: Dict[str, Any]) -> Dict[str, Any]:
    """Roll out a candidate that passed the gate (canary or all traffic); report what happened and why."""
    models = registry.open_registry(state["model_dir"])
    share, soak = state["policy"]["share"], state["policy"]["soak_s"]
    report = dict(state, promoted=False, canary_started=False)
    if state["candidate"] is None:
        soaking = (state["canary"] or {}).get("decision") == "soaking"
        return {"report": dict(report, why="a canary is soaking" if soaking
                               else "data unchanged since the newest model version was trained")}
    if state["dry_run"]:  # its temporary directory
        shutil.rmtree(os.path.dirname(state["candidate"]), ignore_errors=True)
    elif state["gate"]["failed"]:
        models.discard(state["candidate"])
    if state["gate"]["failed"] or state["dry_run"]:
        why = (f"gate failed on {len(state['gate']['failed'])} example notes" if state["gate"]["failed"]
               else "dry run: gate passed, nothing rolled out")
        return {"report": dict(report, why=why)}
    stamp = models.add(state["candidate"], state["version"])
    report["candidate"] = stamp if models.canaries else state["candidate"]
    if share > 0 and models.canaries and models.routing().serving is not None:
        models.start_canary(stamp, share, soak)
        return {"report": dict(report, canary_started=True,
                               why=f"new data, gate passed: canary for {share:.0%} of predictions for {soak:g} s")}
    models.promote(stamp)
    direct = " (a model directory has no canary)" if share > 0 and not models.canaries else ""
    return {"report": dict(report, promoted=True, why=f"new data, gate passed{direct}")}

"""The project's dataflows, defined in Python.

``dataflows/*.yaml`` are exports of these objects (``scripts/export-dataflows``
writes them with ``dffml service dev export``; a test keeps them in step), and
``k8s-analysis`` runs these same objects.
"""
import asyncio
import pathlib
from typing import List

from dffml import DataFlow, GetMulti, GetSingle, Input, InputFlow, run
from dffml.operation.model import ModelPredictConfig, model_predict
from tqdm.contrib.logging import logging_redirect_tqdm

from operations import analyze, label, learn, pipeline, plot, vectorize
from operations import github as ops
from operations.github import export_closers, export_flow, merge_shards
from operations.parse import RELEASE_NOTE, extract_release_note

from .analysis.views import VIEWS
from .github import export
from .model.canary import Policy
from .model.plugin import K8sMLPModel


EXPORT = export_flow("full")
UPDATE = export_flow("update")
CLOSERS = DataFlow.auto(export_closers)
MERGE = DataFlow.auto(merge_shards)

ANALYZE = DataFlow.auto(analyze.load, analyze.view, plot.chart, GetMulti)
ANALYZE.seed.append(Input(value=[plot.RESULT.name, analyze.LOADED.name], definition=GetMulti.op.inputs["spec"]))

LABEL = DataFlow.auto(label.verify_webhook, label.webhook_item, label.number_item, label.fetch_item, extract_release_note,
                      label.predict_note, label.reconcile_labels, GetSingle)
LABEL.seed.append(Input(value=[label.OUTCOME.name], definition=GetSingle.op.inputs["spec"]))

PIPELINE = DataFlow.auto(pipeline.pipeline_update, pipeline.pipeline_canary, pipeline.pipeline_train,
                         pipeline.pipeline_gate, pipeline.pipeline_promote)

# The analysis views' numbers alone, no charts written: what DFFML's HTTP service answers at /analyze.
NUMBERS = DataFlow.auto(analyze.load, analyze.view, GetMulti)
NUMBERS.seed.append(Input(value=[analyze.NUMBERS.name, analyze.LOADED.name], definition=GetMulti.op.inputs["spec"]))

TRAIN = DataFlow.auto(learn.training_records, learn.extract_notes, learn.train_model)

VECTORIZE = DataFlow.auto(learn.training_records, learn.extract_notes, vectorize.fit_vectorizer, GetSingle)
VECTORIZE.seed.append(Input(value=[vectorize.FITTED.name], definition=GetSingle.op.inputs["spec"]))
VECTOR = DataFlow.auto(vectorize.transform_note, GetSingle)
VECTOR.seed.append(Input(value=[vectorize.VECTOR.name], definition=GetSingle.op.inputs["spec"]))

# The release note of each record's ``body`` feature, for DFFML's ``df`` source (whose inputs are
# definitions named after the features, here ``body``) over k8s-issues records.
EXTRACT = DataFlow(
    operations={extract_release_note.op.name: extract_release_note, "get_single": GetSingle},
    flow={extract_release_note.op.name: InputFlow(inputs={"body": [{"seed": ["body"]}]}),
          "get_single": InputFlow(inputs={"spec": ["seed"]})},
    seed=[Input(value=[RELEASE_NOTE.name], definition=GetSingle.op.inputs["spec"])],
)


def served_model(directory: str = "out/model") -> K8sMLPModel:
    """The k8s-mlp model of ``directory``, kept relative so the dataflow's export names it as given."""
    model = K8sMLPModel(directory=directory)
    model.config.directory = pathlib.Path(directory)  # dffml resolves it against the working directory
    return model


# A note (``release_note``), or a PR body (``github.body``) whose note k8s.release_note extracts.
PREDICT = DataFlow.auto(extract_release_note, learn.note_features, model_predict, learn.probabilities, GetSingle)
PREDICT.flow[learn.note_features.op.name].inputs["note"].insert(0, "seed")
PREDICT.update()
PREDICT.configs[model_predict.op.name] = ModelPredictConfig(model=served_model())
PREDICT.seed.append(Input(value=[learn.PROBABILITIES.name], definition=GetSingle.op.inputs["spec"]))

# dataflows/NAME.yaml (and NAME.json) -> the attribute of this module it is exported from
DATAFLOWS = {"export": "EXPORT", "update": "UPDATE", "closers": "CLOSERS", "merge": "MERGE", "analyze": "ANALYZE",
             "label": "LABEL", "pipeline": "PIPELINE", "numbers": "NUMBERS", "train": "TRAIN", "predict": "PREDICT",
             "extract": "EXTRACT", "vectorize": "VECTORIZE", "vector": "VECTOR"}


async def run_flow(dataflow: DataFlow, inputs: List[Input]) -> dict:
    """Run a dataflow in one context and return its output operations' results."""
    async for _ctx, results in run(dataflow, inputs):
        return results
    return {}


def run_export(repo: str, base_url: str, store: str = "", update: bool = False, workers: int = 8,
               windows: int = 0, quiet: bool = False, closers: bool = False, shards: int = 0,
               until: str = "") -> dict:
    """Run the export (or update) dataflow, then the closers one if asked; return the summary."""
    common = [
        Input(value=repo, definition=ops.REPO),
        Input(value=base_url, definition=ops.BASE_URL),
        Input(value=store, definition=ops.STORE),
        Input(value=quiet, definition=ops.QUIET),
    ]
    sizing = [
        Input(value=workers, definition=ops.WORKERS),
        Input(value=windows, definition=ops.WINDOWS),
        Input(value=shards, definition=ops.SHARDS),
        Input(value=until, definition=ops.UNTIL),
    ]
    with logging_redirect_tqdm():
        try:
            summary = asyncio.run(run_flow(UPDATE if update else EXPORT, common + sizing))["summary"]
            if closers:
                summary["closers"] = asyncio.run(run_flow(CLOSERS, common))["summary"]
        finally:
            export.close_sessions()
    return summary


def run_merge(repo: str, base_url: str, store: str, paths: List[str], quiet: bool = False) -> dict:
    """Run the merge dataflow over an Indexed Job's shard stores; return the summary."""
    inputs = [
        Input(value=repo, definition=ops.REPO),
        Input(value=base_url, definition=ops.BASE_URL),
        Input(value=store, definition=ops.STORE),
        Input(value=list(paths), definition=ops.SHARD_PATHS),
        Input(value=quiet, definition=ops.QUIET),
    ]
    with logging_redirect_tqdm():
        try:
            return asyncio.run(run_flow(MERGE, inputs))["summary"]
        finally:
            export.close_sessions()


def run_analyze(store: str, views: List[str], subset: str = "all", include: str = "", exclude: str = "",
                count: int = 25, period: str = "month", out: str = "out/analysis", png: bool = False) -> dict:
    """Run the analyze dataflow (PNGs beside the SVGs with ``png``); return ``loaded`` (what was read),
    ``views`` (numbers and files) and ``filters``."""
    inputs = [
        Input(value=store, definition=analyze.STORE),
        Input(value=views, definition=analyze.VIEW_NAMES),
        Input(value=subset, definition=analyze.SUBSET),
        Input(value=include, definition=analyze.INCLUDE),
        Input(value=exclude, definition=analyze.EXCLUDE),
        Input(value=count, definition=analyze.COUNT),
        Input(value=period, definition=analyze.PERIOD),
        Input(value=out, definition=plot.OUT),
        Input(value=png, definition=plot.PNG),
    ]
    results = asyncio.run(run_flow(ANALYZE, inputs))
    order = {name: i for i, name in enumerate(VIEWS)}
    views_done = sorted(results.get(plot.RESULT.name, []), key=lambda result: order[result["view"]])
    filters = {"subset": subset, "include": include, "exclude": exclude, "count": count, "period": period}
    return {"loaded": results[analyze.LOADED.name][0], "views": views_done, "filters": filters}


async def run_label(inputs: List[Input]) -> dict:
    """Run the label dataflow on ``label.item_inputs(...)`` (or a delivery's inputs); its outcome."""
    return (await run_flow(LABEL, inputs))[label.OUTCOME.name]


def run_pipeline(repo: str, base_url: str, store: str, models: str, quiet: bool = False, dry_run: bool = False,
                 policy: Policy = Policy()) -> dict:
    """Run the pipeline dataflow: update, decide the canary, retrain if changed, gate, roll out; return its report."""
    inputs = [
        Input(value=repo, definition=ops.REPO),
        Input(value=base_url, definition=ops.BASE_URL),
        Input(value=store, definition=ops.STORE),
        Input(value=models, definition=pipeline.MODEL_DIR),
        Input(value=quiet, definition=ops.QUIET),
        Input(value=dry_run, definition=pipeline.DRY_RUN),
        Input(value=policy.share, definition=pipeline.SHARE),
        Input(value=policy.soak_s, definition=pipeline.SOAK),
        Input(value=policy.min_requests, definition=pipeline.MIN_REQUESTS),
        Input(value=policy.min_agreement, definition=pipeline.MIN_AGREEMENT),
        Input(value=policy.max_errors, definition=pipeline.MAX_ERRORS),
        Input(value=policy.max_latency_ratio, definition=pipeline.MAX_LATENCY_RATIO),
    ]
    with logging_redirect_tqdm():
        return asyncio.run(run_flow(PIPELINE, inputs))["report"]

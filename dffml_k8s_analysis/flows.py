"""The project's dataflows, defined in Python.

``dataflows/*.yaml`` are exports of these objects (``scripts/export-dataflows``
writes them with ``dffml service dev export``; a test keeps them in step), and
``k8s-analysis`` runs these same objects. Each dataflow is built on first use
(``flows.ANALYZE`` or ``dataflow("ANALYZE")``), importing only the operations it
runs: analysing loads no model, exporting no analysis.
"""
import asyncio
import functools
import pathlib
from typing import TYPE_CHECKING, Callable, Dict, List, Optional

from dffml import DataFlow, GetMulti, GetSingle, Input, InputFlow, run
from tqdm.contrib.logging import logging_redirect_tqdm

if TYPE_CHECKING:
    from .model.canary import Policy


def _export(kind: str) -> Callable[[], DataFlow]:
    def build() -> DataFlow:
        from operations.github import export_flow

        return export_flow(kind)
    return build


def _closers() -> DataFlow:
    from operations.github import export_closers

    return DataFlow.auto(export_closers)


def _timeline() -> DataFlow:
    from operations.github import export_timeline

    return DataFlow.auto(export_timeline)


def _merge() -> DataFlow:
    from operations.github import merge_shards

    return DataFlow.auto(merge_shards)


def _analyze() -> DataFlow:
    from operations import analyze, plot

    flow = DataFlow.auto(analyze.load, analyze.view, plot.chart, GetMulti)
    flow.seed.append(Input(value=[plot.RESULT.name, analyze.LOADED.name], definition=GetMulti.op.inputs["spec"]))
    return flow


def _label() -> DataFlow:
    from operations import label
    from operations.parse import extract_release_note

    flow = DataFlow.auto(label.verify_webhook, label.webhook_item, label.number_item, label.fetch_item,
                         extract_release_note, label.predict_note, label.reconcile_labels, GetSingle)
    flow.seed.append(Input(value=[label.OUTCOME.name], definition=GetSingle.op.inputs["spec"]))
    return flow


def _pipeline() -> DataFlow:
    from operations import pipeline

    return DataFlow.auto(pipeline.pipeline_update, pipeline.pipeline_canary, pipeline.pipeline_train,
                         pipeline.pipeline_gate, pipeline.pipeline_promote)


def _numbers() -> DataFlow:
    """The analysis views' numbers alone, no charts written: what DFFML's HTTP service answers at /analyze."""
    from operations import analyze

    flow = DataFlow.auto(analyze.load, analyze.view, GetMulti)
    flow.seed.append(Input(value=[analyze.NUMBERS.name, analyze.LOADED.name], definition=GetMulti.op.inputs["spec"]))
    return flow


def _train() -> DataFlow:
    from operations import learn

    return DataFlow.auto(learn.training_records, learn.extract_notes, learn.train_model)


def _vectorize() -> DataFlow:
    from operations import learn, vectorize

    flow = DataFlow.auto(learn.training_records, learn.extract_notes, vectorize.fit_vectorizer, GetSingle)
    flow.seed.append(Input(value=[vectorize.FITTED.name], definition=GetSingle.op.inputs["spec"]))
    return flow


def _vector() -> DataFlow:
    from operations import vectorize

    flow = DataFlow.auto(vectorize.transform_note, GetSingle)
    flow.seed.append(Input(value=[vectorize.VECTOR.name], definition=GetSingle.op.inputs["spec"]))
    return flow


def _extract() -> DataFlow:
    """The release note of each record's ``body`` feature, for DFFML's ``df`` source (whose inputs are
    definitions named after the features, here ``body``) over k8s-issues records."""
    from operations.parse import RELEASE_NOTE, extract_release_note

    return DataFlow(
        operations={extract_release_note.op.name: extract_release_note, "get_single": GetSingle},
        flow={extract_release_note.op.name: InputFlow(inputs={"body": [{"seed": ["body"]}]}),
              "get_single": InputFlow(inputs={"spec": ["seed"]})},
        seed=[Input(value=[RELEASE_NOTE.name], definition=GetSingle.op.inputs["spec"])],
    )


def served_model(directory: str = "out/model"):
    """The k8s-mlp model of ``directory``, kept relative so the dataflow's export names it as given."""
    from .model.plugin import K8sMLPModel

    model = K8sMLPModel(directory=directory)
    model.config.directory = pathlib.Path(directory)  # dffml resolves it against the working directory
    return model


def _predict() -> DataFlow:
    """A note (``release_note``), or a PR body (``github.body``) whose note k8s.release_note extracts."""
    from dffml.operation.model import ModelPredictConfig, model_predict

    from operations import learn
    from operations.parse import extract_release_note

    flow = DataFlow.auto(extract_release_note, learn.note_features, model_predict, learn.probabilities, GetSingle)
    flow.flow[learn.note_features.op.name].inputs["note"].insert(0, "seed")
    flow.update()
    flow.configs[model_predict.op.name] = ModelPredictConfig(model=served_model())
    flow.seed.append(Input(value=[learn.PROBABILITIES.name], definition=GetSingle.op.inputs["spec"]))
    return flow


BUILDERS: Dict[str, Callable[[], DataFlow]] = {
    "EXPORT": _export("full"), "UPDATE": _export("update"), "CLOSERS": _closers, "TIMELINE": _timeline,
    "MERGE": _merge,
    "ANALYZE": _analyze, "LABEL": _label, "PIPELINE": _pipeline, "NUMBERS": _numbers, "TRAIN": _train,
    "PREDICT": _predict, "EXTRACT": _extract, "VECTORIZE": _vectorize, "VECTOR": _vector,
}

# dataflows/NAME.yaml (and NAME.json) -> the attribute of this module it is exported from
DATAFLOWS = {"export": "EXPORT", "update": "UPDATE", "closers": "CLOSERS", "timeline": "TIMELINE", "merge": "MERGE",
             "analyze": "ANALYZE",
             "label": "LABEL", "pipeline": "PIPELINE", "numbers": "NUMBERS", "train": "TRAIN", "predict": "PREDICT",
             "extract": "EXTRACT", "vectorize": "VECTORIZE", "vector": "VECTOR"}


@functools.lru_cache(maxsize=None)
def dataflow(name: str) -> DataFlow:
    """The dataflow of attribute ``name`` (a value of DATAFLOWS), built once."""
    return BUILDERS[name]()


def __getattr__(name: str) -> DataFlow:
    """``flows.EXPORT`` and the others, as ``dffml service dev export dffml_k8s_analysis.flows:EXPORT`` reads them."""
    if name in BUILDERS:
        return dataflow(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def item_inputs(repo: str, number: int, base_url: str, model_dir: str, mode: str = "act",
                apply_sigs: bool = False) -> List[Input]:
    """The label dataflow's inputs for one issue or PR by number, the bot in ``mode`` (act, suggest, shadow)."""
    from operations.github import BASE_URL, REPO
    from operations.label import APPLY_SIGS, MODE, MODEL_DIR, NUMBER

    return [
        Input(value=repo, definition=REPO),
        Input(value=number, definition=NUMBER),
        Input(value=base_url, definition=BASE_URL),
        Input(value=model_dir, definition=MODEL_DIR),
        Input(value=mode, definition=MODE),
        Input(value=apply_sigs, definition=APPLY_SIGS),
    ]


async def run_flow(dataflow: DataFlow, inputs: List[Input]) -> dict:
    """Run a dataflow in one context and return its output operations' results."""
    async for _ctx, results in run(dataflow, inputs):
        return results
    return {}


def _run_github_flow(name: str, repo: str, base_url: str, store: str, quiet: bool, extra: List[Input]) -> dict:
    """Run a GitHub dataflow (export, update, closers, timeline) with its common inputs; return its summary."""
    from operations import github as ops

    from .github import export

    inputs = [
        Input(value=repo, definition=ops.REPO),
        Input(value=base_url, definition=ops.BASE_URL),
        Input(value=store, definition=ops.STORE),
        Input(value=quiet, definition=ops.QUIET),
    ] + extra
    with logging_redirect_tqdm():
        try:
            return asyncio.run(run_flow(dataflow(name), inputs))["summary"]
        finally:
            export.close_sessions()


def run_export(repo: str, base_url: str, store: str = "", update: bool = False, workers: int = 8,
               windows: int = 0, quiet: bool = False, closers: bool = False, shards: int = 0,
               until: str = "", timeline: bool = False, bots: str = "") -> dict:
    """Run the export (or update) dataflow, then the timeline one (which fills the closers too) or the closers one
    if asked; return the summary."""
    from operations import github as ops

    sizing = [
        Input(value=workers, definition=ops.WORKERS),
        Input(value=windows, definition=ops.WINDOWS),
        Input(value=shards, definition=ops.SHARDS),
        Input(value=until, definition=ops.UNTIL),
    ]
    summary = _run_github_flow("UPDATE" if update else "EXPORT", repo, base_url, store, quiet, sizing)
    if timeline:
        summary["timeline"] = run_timeline(repo, base_url, store, quiet, bots)
    elif closers:
        summary["closers"] = run_closers(repo, base_url, store, quiet)
    return summary


def run_closers(repo: str, base_url: str, store: str = "", quiet: bool = False) -> dict:
    """Run the closers dataflow alone (it resumes an interrupted walk); return its summary."""
    return _run_github_flow("CLOSERS", repo, base_url, store, quiet, [])


def run_timeline(repo: str, base_url: str, store: str = "", quiet: bool = False, bots: str = "") -> dict:
    """Run the timeline dataflow alone (it resumes an interrupted walk); return its summary."""
    from operations import github as ops

    return _run_github_flow("TIMELINE", repo, base_url, store, quiet, [Input(value=bots, definition=ops.BOTS)])


def run_merge(repo: str, base_url: str, store: str, paths: List[str], quiet: bool = False) -> dict:
    """Run the merge dataflow over an Indexed Job's shard stores; return the summary."""
    from operations import github as ops

    from .github import export

    inputs = [
        Input(value=repo, definition=ops.REPO),
        Input(value=base_url, definition=ops.BASE_URL),
        Input(value=store, definition=ops.STORE),
        Input(value=list(paths), definition=ops.SHARD_PATHS),
        Input(value=quiet, definition=ops.QUIET),
    ]
    with logging_redirect_tqdm():
        try:
            return asyncio.run(run_flow(dataflow("MERGE"), inputs))["summary"]
        finally:
            export.close_sessions()


def run_analyze(store: str, views: List[str], subset: str = "all", include: str = "", exclude: str = "",
                count: int = 25, period: str = "month", out: str = "out/analysis", png: bool = False) -> dict:
    """Run the analyze dataflow (PNGs beside the SVGs with ``png``); return ``loaded`` (what was read),
    ``views`` (numbers and files) and ``filters``."""
    from operations import analyze, plot

    from .analysis import drawing
    from .analysis.views import VIEWS, view_names

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
    with drawing.workers(len(view_names(views))):  # forked first: they start matplotlib while the store is read
        results = asyncio.run(run_flow(dataflow("ANALYZE"), inputs))
    order = {name: i for i, name in enumerate(VIEWS)}
    views_done = sorted(results.get(plot.RESULT.name, []), key=lambda result: order[result["view"]])
    filters = {"subset": subset, "include": include, "exclude": exclude, "count": count, "period": period}
    return {"loaded": results[analyze.LOADED.name][0], "views": views_done, "filters": filters}


async def run_label(inputs: List[Input]) -> dict:
    """Run the label dataflow on :func:`item_inputs` (or a delivery's inputs); its outcome."""
    from operations.label import OUTCOME

    return (await run_flow(dataflow("LABEL"), inputs))[OUTCOME.name]


def run_pipeline(repo: str, base_url: str, store: str, models: str, quiet: bool = False, dry_run: bool = False,
                 policy: "Optional[Policy]" = None) -> dict:
    """Run the pipeline dataflow: update, decide the canary, retrain if changed, gate, roll out (``policy``: the
    canary's, by default :class:`~dffml_k8s_analysis.model.canary.Policy`'s); return its report."""
    from operations import github as ops, pipeline

    from .model.canary import Policy

    policy = policy or Policy()
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
        return asyncio.run(run_flow(dataflow("PIPELINE"), inputs))["report"]

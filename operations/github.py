"""DFFML operations that export a repository's issues and pull requests.

``plan_export`` decides the work and expands it into one input per time
window; ``export_window`` walks one window (DFFML runs them concurrently,
``workers`` at a time); ``finish_export`` is an output-stage operation, so it
runs once every window is done: the final pass and the summary.
``export_closers``, a dataflow of its own, fetches who closed each item; ``export_timeline``, another,
each item's timeline (label events, first response, reviews, merge and closer).

The token is read from ``GITHUB_TOKEN`` by the client, never passed as an
input, so it cannot end up in a dataflow, a record or a log of the inputs.
"""
import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

from dffml import DataFlow, Definition, Input, Stage, op

from dffml_k8s_analysis import jobindex
from dffml_k8s_analysis.github import closers, export, timeline
from dffml_k8s_analysis.github.client import DEFAULT_BASE_URL
from dffml_k8s_analysis.store import is_postgres

REPO = Definition(name="github.repo", primitive="str")
BASE_URL = Definition(name="github.base_url", primitive="str", default=DEFAULT_BASE_URL)
STORE = Definition(name="export.store", primitive="str", default="")
WORKERS = Definition(name="export.workers", primitive="int", default=8)
WINDOWS = Definition(name="export.windows", primitive="int", default=0)
MODE = Definition(name="export.mode", primitive="str", default="full")
QUIET = Definition(name="export.quiet", primitive="bool", default=False)
SHARDS = Definition(name="export.shards", primitive="int", default=0)
UNTIL = Definition(name="export.until", primitive="str", default="")
SHARD_PATHS = Definition(name="export.shard_paths", primitive="List[str]")
PLAN = Definition(name="export.plan", primitive="Dict[str, Any]")
WINDOW = Definition(name="export.window", primitive="Dict[str, Any]")
WINDOW_RESULT = Definition(name="export.window_result", primitive="Dict[str, Any]")
CLOSERS_SUMMARY = Definition(name="export.closers_summary", primitive="Dict[str, Any]")
BOTS = Definition(name="timeline.bots", primitive="str", default="")
TIMELINE_SUMMARY = Definition(name="export.timeline_summary", primitive="Dict[str, Any]")
SUMMARY = Definition(name="export.summary", primitive="Dict[str, Any]")


@functools.lru_cache(maxsize=None)
def _pool(workers: int) -> ThreadPoolExecutor:
    """One thread pool per worker count: it bounds how many windows run at once."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export")


async def _in_pool(workers: int, func, *args):
    return await asyncio.get_event_loop().run_in_executor(_pool(workers), func, *args)


@op(
    name="k8s.plan_export",
    inputs={
        "repo": REPO,
        "base_url": BASE_URL,
        "store": STORE,
        "workers": WORKERS,
        "windows": WINDOWS,
        "mode": MODE,
        "quiet": QUIET,
        "shards": SHARDS,
        "until": UNTIL,
    },
    outputs={"plan": PLAN, "windows": WINDOW},
    expand=["windows"],
)
async def plan_export(
    repo: str, base_url: str, store: str, workers: int, windows: int, mode: str, quiet: bool,
    shards: int, until: str,
) -> Dict[str, Any]:
    """Plan a full export or an update; resume an unfinished export if the store has one.

    ``windows`` is how many time windows to split a full export into (0: four
    per worker, which evens out busy and quiet periods). With ``shards`` > 0 this
    is one pod of an Indexed Job: ``JOB_COMPLETION_INDEX`` picks its windows of
    the range up to ``until``. A SQLite ``store`` must hold ``{index}`` so that
    each pod writes its own shard (``k8s.merge_shards`` combines them); into a
    PostgreSQL store every pod writes directly, and a plain export afterwards
    runs the final pass.
    """
    if workers < 1:
        raise export.GitHubError(f"workers must be at least 1, got {workers}")
    export.check_workers(workers)
    shard, shared = None, shards > 0 and is_postgres(store)
    if shards:
        try:
            index = jobindex.job_index(shards)
        except ValueError as error:
            raise export.GitHubError(str(error)) from None
        if not shared and ("{index}" not in store or set("{}") & set(store.replace("{index}", ""))):
            raise export.GitHubError(f"a sharded export's store must contain {{index}} and no other braces, "
                                     f"got {store!r}")
        store = store.replace("{index}", str(index))
        shard = {"index": index, "count": shards, "until": until, "shared": shared}
    sess = export.new_session(repo, base_url, store or None, quiet, shared)
    planned = await _in_pool(workers, export.plan, sess, mode, windows or 4 * workers, shard)
    fields = dict(export.sess_fields(sess), workers=workers, quiet=quiet)
    return {"plan": fields, "windows": [dict(window, **fields) for window in planned]}


@op(name="k8s.export_window", inputs={"window": WINDOW}, outputs={"result": WINDOW_RESULT})
async def export_window(window: Dict[str, Any]) -> Dict[str, Any]:
    """Export one time window, committing every page with its checkpoint."""
    sess = export.get_session(window)
    return {"result": await _in_pool(window["workers"], export.export_window, sess, window)}


@op(
    name="k8s.merge_shards",
    inputs={"repo": REPO, "base_url": BASE_URL, "store": STORE, "paths": SHARD_PATHS, "quiet": QUIET},
    outputs={"summary": SUMMARY},
    stage=Stage.OUTPUT,
)
async def merge_shards(repo: str, base_url: str, store: str, paths: List[str], quiet: bool) -> Dict[str, Any]:
    """Combine an Indexed Job's shard stores (files or globs) into ``store``, fetch what changed since; rerunnable."""
    sess = export.new_session(repo, base_url, store or None, quiet)
    try:
        return {"summary": await _in_pool(1, export.merge_shards, sess, paths)}
    finally:
        export.close_session(sess)


@op(
    name="k8s.export_closers",
    inputs={"repo": REPO, "base_url": BASE_URL, "store": STORE, "quiet": QUIET},
    outputs={"summary": CLOSERS_SUMMARY},
    stage=Stage.OUTPUT,
)
async def export_closers(repo: str, base_url: str, store: str, quiet: bool) -> Dict[str, Any]:
    """Who closed each item (the issues listing lacks it): GraphQL, 100 closed items a request."""
    sess = export.new_session(repo, base_url, store or None, quiet)
    try:
        return {"summary": await _in_pool(1, closers.fetch_closers, sess)}
    finally:
        export.close_session(sess)


@op(
    name="k8s.export_timeline",
    inputs={"repo": REPO, "base_url": BASE_URL, "store": STORE, "quiet": QUIET, "bots": BOTS},
    outputs={"summary": TIMELINE_SUMMARY},
    stage=Stage.OUTPUT,
)
async def export_timeline(repo: str, base_url: str, store: str, quiet: bool, bots: str) -> Dict[str, Any]:
    """Each item's timeline (GraphQL, 100 items a point) into the store; ``bots`` ("": the store's pattern, else
    Kubernetes' robots) names the bot accounts."""
    sess = export.new_session(repo, base_url, store or None, quiet)
    try:
        return {"summary": await _in_pool(1, timeline.fetch_timeline, sess, bots or None)}
    finally:
        export.close_session(sess)


@op(name="k8s.finish_export", inputs={"plan": PLAN}, outputs={"summary": SUMMARY}, stage=Stage.OUTPUT)
async def finish_export(plan: Dict[str, Any]) -> Dict[str, Any]:
    """After every window: catch what changed meanwhile, record the high-water mark, summarize."""
    sess = export.get_session(plan)
    try:
        return {"summary": await _in_pool(plan["workers"], export.final_pass, sess)}
    finally:
        export.close_session(sess)


def export_flow(mode: str) -> DataFlow:
    """The export (``mode`` full) or update dataflow of these operations: plan, windows, final pass.

    Defined here, not in ``flows.py``, because ``k8s.pipeline_update`` runs the update one.
    """
    flow = DataFlow.auto(plan_export, export_window, finish_export)
    flow.seed.append(Input(value=mode, definition=MODE))
    return flow

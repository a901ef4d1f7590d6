"""The project's dataflows, defined in Python.

``dataflows/*.yaml`` are exports of these objects (``scripts/export-dataflows``
writes them with ``dffml service dev export``; a test keeps them in step), and
``k8s-analysis`` runs these same objects.
"""
import asyncio
from typing import List

from dffml import DataFlow, Input, run
from tqdm.contrib.logging import logging_redirect_tqdm

from operations import github as ops
from operations.github import MODE, export_closers, export_window, finish_export, plan_export


def _export_flow(mode: str) -> DataFlow:
    flow = DataFlow.auto(plan_export, export_window, export_closers, finish_export)
    flow.seed.append(Input(value=mode, definition=MODE))
    return flow


EXPORT = _export_flow("full")
UPDATE = _export_flow("update")

# name -> (dataflow, module attribute) for the YAML files under dataflows/
DATAFLOWS = {"export": "EXPORT", "update": "UPDATE"}


async def run_flow(dataflow: DataFlow, inputs: List[Input]) -> dict:
    """Run a dataflow in one context and return its output operations' results."""
    async for _ctx, results in run(dataflow, inputs):
        return results
    return {}


def run_export(repo: str, base_url: str, store: str = "", update: bool = False, workers: int = 8,
               windows: int = 0, quiet: bool = False) -> dict:
    """Run the export (or update) dataflow; return its summary."""
    inputs = [
        Input(value=repo, definition=ops.REPO),
        Input(value=base_url, definition=ops.BASE_URL),
        Input(value=store, definition=ops.STORE),
        Input(value=workers, definition=ops.WORKERS),
        Input(value=windows, definition=ops.WINDOWS),
        Input(value=quiet, definition=ops.QUIET),
    ]
    with logging_redirect_tqdm():
        return asyncio.run(run_flow(UPDATE if update else EXPORT, inputs))["summary"]

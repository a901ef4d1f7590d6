"""The project's dataflows, defined in Python.

``dataflows/*.yaml`` are exports of these objects (``scripts/export-dataflows``
writes them with ``dffml service dev export``; a test keeps them in step), and
``k8s-analysis`` runs these same objects.
"""
from dffml import DataFlow, Input

from operations.github import MODE, export_window, finish_export, plan_export


def _export_flow(mode: str) -> DataFlow:
    flow = DataFlow.auto(plan_export, export_window, finish_export)
    flow.seed.append(Input(value=mode, definition=MODE))
    return flow


EXPORT = _export_flow("full")
UPDATE = _export_flow("update")

# name -> (dataflow, module attribute) for the YAML files under dataflows/
DATAFLOWS = {"export": "EXPORT", "update": "UPDATE"}

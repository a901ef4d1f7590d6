"""The analysis views as DFFML operations (``dataflows/analyze.yaml``): read the store once, then one view per input.

The views themselves are ``dffml_k8s_analysis.analysis.views``: the store's derived columns in, numbers out.
"""
from typing import Any, Dict

from dffml import Definition, op

from dffml_k8s_analysis.analysis.columns import Items, load as load_columns
from dffml_k8s_analysis.analysis.views import needs, run_view, view_names
from dffml_k8s_analysis.records.selection import Filter


class Records(list):
    """Records (``operations.learn``'s) whose repr is short: DFFML formats every operation's inputs and
    outputs with str() for its debug log, which for 91,000 records costs
    seconds and hundreds of MiB per operation."""

    def __repr__(self) -> str:
        return f"<{len(self)} records>"


STORE = Definition(name="analyze.store", primitive="str")
VIEW_NAMES = Definition(name="analyze.views", primitive="str", default="all")
SUBSET = Definition(name="analyze.subset", primitive="str", default="all")
INCLUDE = Definition(name="analyze.include", primitive="str", default="")
EXCLUDE = Definition(name="analyze.exclude", primitive="str", default="")
COUNT = Definition(name="analyze.count", primitive="int", default=25)
PERIOD = Definition(name="analyze.period", primitive="str", default="month")
RECORDS = Definition(name="analyze.records", primitive="Items")
LOADED = Definition(name="analyze.loaded", primitive="Dict[str, Any]")
VIEW = Definition(name="analyze.view", primitive="str")
NUMBERS = Definition(name="analyze.numbers", primitive="Dict[str, Any]")


@op(
    name="k8s.analyze_load",
    inputs={"store": STORE, "subset": SUBSET, "views": VIEW_NAMES, "include": INCLUDE, "exclude": EXCLUDE},
    outputs={"records": RECORDS, "loaded": LOADED, "view": VIEW},
    expand=["view"],
)
def load(store: str, subset: str, views: Any, include: str, exclude: str) -> Dict[str, Any]:
    """Read the columns the views need once; the subset's items, what was skipped, and one input per view."""
    names = view_names(views)
    items, problems = load_columns(store, needs(names, subset, Filter.of(include, exclude)))
    chosen = items.subset(subset)
    loaded = {"store": store, "records": len(items), "selected": len(chosen),
              "malformed": len(problems), "problems": problems[:10]}
    return {"records": chosen, "loaded": loaded, "view": names}


@op(
    name="k8s.analyze_view",
    inputs={"records": RECORDS, "view": VIEW, "subset": SUBSET, "include": INCLUDE, "exclude": EXCLUDE,
            "count": COUNT, "period": PERIOD},
    outputs={"numbers": NUMBERS},
)
def view(records: Items, view: str, subset: str, include: str, exclude: str, count: int,
         period: str) -> Dict[str, Any]:
    """One view's numbers."""
    return {"numbers": run_view(view, records, subset, Filter.of(include, exclude), count, period)}

"""The analysis views as DFFML operations (``dataflows/analyze.yaml``): count the store's items, then one view
per input, each reading only its own columns.

The views themselves are ``dffml_k8s_analysis.analysis.views``: the store's derived columns in, numbers out.
A store of up to ``ONCE`` items is read once for every view (the columns they need, together); a larger one
view by view, one view at a time (``Columns.lock``), so memory is bounded by the largest view, not by the union
of every view's columns (at 1,000,000 items that union needs more than 300 MiB).
"""
import threading
from typing import Any, Dict, Optional, Set

from dffml import Definition, op

from dffml_k8s_analysis.analysis.columns import Items, load as load_columns
from dffml_k8s_analysis.analysis.views import needs, run_view, view_names
from dffml_k8s_analysis.records.selection import Filter
from dffml_k8s_analysis.store.snapshot import MOST


class Records(list):
    """Records (``operations.learn``'s) whose repr is short: DFFML formats every operation's inputs and
    outputs with str() for its debug log, which for 91,000 records costs
    seconds and hundreds of MiB per operation."""

    def __repr__(self) -> str:
        return f"<{len(self)} records>"


ONCE = MOST  # items read at once: the same bound under which the store keeps a columns snapshot


class Columns:
    """What ``load`` hands the views: the store, the subset, and the columns every view needs (``every``: read
    once, at the first view) or None (each view reads its own)."""

    lock = threading.Lock()

    def __init__(self, store: str, subset: str, every: Optional[Set[str]]):
        self.store, self.subset, self.every = store, subset, every
        self.items: Optional[Items] = None

    def __repr__(self) -> str:
        return f"<columns of {self.store}, {self.subset}>"

    def numbers(self, name: str, keep: Filter, count: int, period: str) -> Dict[str, Any]:
        """One view's numbers; its columns (or every view's) read while no other view reads or holds its own."""
        with self.lock:
            if self.every is None:
                items = load_columns(self.store, needs([name], self.subset, keep))[0].subset(self.subset)
            else:
                self.items = self.items or load_columns(self.store, self.every)[0].subset(self.subset)
                items = self.items
            return run_view(name, items, self.subset, keep, count, period)


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
    """How many items the store and the subset hold, what was skipped, the columns to read, one input per view."""
    names = view_names(views)
    every = needs(names, subset, Filter.of(include, exclude))
    items, problems = load_columns(store, {"pull_request"})
    loaded = {"store": store, "records": len(items), "selected": len(items.subset(subset)),
              "malformed": len(problems), "problems": problems[:10]}
    return {"records": Columns(store, subset, every if len(items) <= ONCE else None), "loaded": loaded, "view": names}


@op(
    name="k8s.analyze_view",
    inputs={"records": RECORDS, "view": VIEW, "subset": SUBSET, "include": INCLUDE, "exclude": EXCLUDE,
            "count": COUNT, "period": PERIOD},
    outputs={"numbers": NUMBERS},
)
def view(records: Columns, view: str, subset: str, include: str, exclude: str, count: int,
         period: str) -> Dict[str, Any]:
    """One view's numbers."""
    return {"numbers": records.numbers(view, Filter.of(include, exclude), count, period)}

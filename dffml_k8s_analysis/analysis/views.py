"""The analysis views: one ``View`` record each, in one registry, ``VIEWS``.

A view is what it computes (``analysis.numbers``), the columns it reads, its title, its chart
(``analysis.charts``) and its table (``analysis.tables``). The CLI's flags, the analyze dataflow
(``operations/analyze.py``, ``operations/plot.py``) and the report read ``VIEWS``: a new view is
one entry here.
"""
import dataclasses
import functools
from typing import Any, Callable, Dict, List, Set, Tuple

from ..records.selection import SUBSETS, Filter
from . import charts, numbers, tables, timeline
from .columns import COUNTS, EVENTS, LABELS, Items

Numbers = Dict[str, Any]


@dataclasses.dataclass(frozen=True)
class View:
    """One view: its name (``--NAME``), what it computes, its title, the columns it reads, its chart and table."""

    name: str
    compute: Callable[[Items, Filter, int, str], Numbers]  # items, filter, top N, period -> numbers
    title: str  # with {subset}, {period} and {count} fields
    needs: Tuple[str, ...]  # the columns (``columns.FIELDS``) it reads besides ``number``
    chart: Callable[[Numbers], Any]  # numbers -> a matplotlib Figure
    table: Callable[[Numbers], Dict[str, Any]]  # numbers -> columns, rows, note
    by_label: bool = False  # --include/--exclude select items by their labels (else: the names counted)
    timeline: bool = False  # reads the timeline export's tables: ``missing`` in a store without them
    events_included: bool = False  # --include names the labels whose events it reads (without: its ``needs``)


CLOSED = ("is_closed", "closed")
EVERYTHING = Filter()  # no --include, no --exclude
VIEWS: Dict[str, View] = {view.name: view for view in (
    View("created", numbers.created, "Created {subset} per {period}", ("created",),
         functools.partial(charts.counts_chart, series="created"), tables.series, by_label=True),
    View("closed", numbers.closed, "Closed {subset} per {period}", CLOSED,
         functools.partial(charts.counts_chart, series="closed"), tables.series, by_label=True),
    View("created-vs-closed", numbers.created_vs_closed, "Created vs closed {subset} per {period}",
         ("created", *CLOSED), charts.created_vs_closed_chart, tables.series, by_label=True),
    View("labels-by-name", numbers.labels_by_name, "Label usage by name for {subset} (top {count})", (COUNTS,),
         functools.partial(charts.bar_chart, names="label", values="items labelled"), tables.ranking),
    View("labels-by-group", numbers.labels_by_group, "Label usage by group for {subset} (top {count})", (COUNTS,),
         functools.partial(charts.bar_chart, names="label group", values="items labelled"),
         functools.partial(tables.ranking, columns=("label group", "uses"))),
    View("users-by-created", numbers.users_by_created, "Users by created {subset} (top {count})", ("author",),
         functools.partial(charts.bar_chart, names="user", values="items created"),
         functools.partial(tables.ranking, columns=("user", "created"))),
    View("users-by-closed", numbers.users_by_closed, "Users by closed {subset} (top {count})", (*CLOSED, "closed_by"),
         functools.partial(charts.bar_chart, names="user", values="items closed"),
         functools.partial(tables.ranking, columns=("user", "closed"), note=tables.unknown_closers)),
    View("release-notes-stats", numbers.release_notes_stats, "kind/ labels of PRs with a release note (top {count})",
         ("noted", "pull_request", "action_required", f"{LABELS} kind/"),
         functools.partial(charts.bar_chart, names="label", values="items labelled"),
         functools.partial(tables.ranking, columns=("label", "PRs"), note=tables.release_notes)),
    View("time-to-close", numbers.time_to_close, "Days to close {subset}, median and 90th percentile per {period}",
         ("created", *CLOSED, "pull_request"), charts.time_to_close_chart, tables.time_to_close, by_label=True),
    View("sig-backlog", numbers.sig_backlog, "Open {subset} per sig/ label at the end of each {period} (top {count})",
         ("created", *CLOSED, f"{LABELS} sig/"), charts.sig_backlog_chart, tables.sig_backlog),
    View("open-candlestick", numbers.open_candlestick, "Open {subset} per {period}: open, high, low, close",
         ("created", *CLOSED), charts.candlestick_chart, tables.series, by_label=True),
    View("time-to-first-response", timeline.time_to_first_response,
         "Days to the first response to {subset}, median and 90th percentile per {period} created",
         ("created", "pull_request", "walked", "first_response"), charts.time_to_close_chart, tables.first_response,
         by_label=True, timeline=True),
    View("review-latency", timeline.review_latency,
         "Days from a PR's creation to its first review and on to its merge, per {period} created",
         ("created", "pull_request", "walked", "first_review", "merged"),
         functools.partial(charts.time_to_close_chart, panels=(("to_first_review", "to 1st review"),
                                                                ("to_merge", "review to merge"))),
         tables.review_latency, by_label=True, timeline=True),
    View("label-provenance", timeline.label_provenance,
         "Who applied the kind/, sig/ and area/ labels of {subset}, per {period}",
         tuple(f"{EVENTS} {group}/" for group in timeline.GROUPS),
         charts.provenance_chart, tables.label_provenance, timeline=True),
    View("time-in-label", timeline.time_in_label, "Days {subset} sat in a label, median per label (top {count})",
         (f"{EVENTS} needs-", *CLOSED, "created"),
         functools.partial(charts.bar_chart, names="label", values="median days in it"),
         tables.time_in_label, timeline=True, events_included=True),
    View("new-contributors", timeline.new_contributors,
         "First-time authors of {subset} per {period}, and who came back within 90 days", ("author", "created", *CLOSED),
         functools.partial(charts.period_lines_chart, series=(("new", "first-time authors"),
                                                              ("returned", "back within 90 days")), ylabel="authors"),
         tables.new_contributors),
    View("absence-factor", timeline.absence_factor,
         "Contributor absence factor of merged PRs per {period}", ("author", "pull_request", "merged", "walked"),
         functools.partial(charts.period_lines_chart, series=(("factor", "absence factor"),),
                           ylabel="fewest authors of half the merges"), tables.absence_factor),
)}


def needs(names: List[str], subset: str = "all", keep: Filter = EVERYTHING) -> Set[str]:
    """The columns the named views read for a subset and filter: what ``columns.load`` need read."""
    fields = {"pull_request"} if subset != "all" else set()
    for name in names:
        fields.update(VIEWS[name].needs)
        if VIEWS[name].by_label and (keep.include or keep.exclude):
            fields.add(LABELS)
        if VIEWS[name].events_included and keep.include:
            fields.add(EVENTS)
    if COUNTS in fields and (subset != "all" or any(field.startswith(LABELS) for field in fields)):
        fields.add(LABELS)  # a subset's counts, or other views' labels: counted from the label arrays
    return fields


def run_view(name: str, items: Items, subset: str = "all", keep: Filter = EVERYTHING,
             count: int = 25, period: str = "month") -> Numbers:
    """One view's numbers with its name, title and filters."""
    if name not in VIEWS:
        raise ValueError(f"unknown view {name!r}; views: {', '.join(VIEWS)}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    view = VIEWS[name]
    return dict(
        view.compute(items, keep, count, period),
        view=name,
        subset=subset,
        title=view.title.format(subset=SUBSETS[subset], period=period, count=count),
        include=keep.include.pattern if keep.include else "",
        exclude=keep.exclude.pattern if keep.exclude else "",
    )


def view_names(views: Any) -> List[str]:
    """``all``, a comma-separated string or a list of view names, checked."""
    if isinstance(views, str):
        views = [name.strip() for name in views.split(",") if name.strip()]
    names = list(VIEWS) if list(views) in ([], ["all"]) else [str(name) for name in views]
    unknown = [name for name in names if name not in VIEWS]
    if unknown:
        raise ValueError(f"unknown view(s) {', '.join(unknown)}; views: {', '.join(VIEWS)}")
    return names


def table(result: Numbers) -> Dict[str, Any]:
    """A view's numbers as ``columns``, ``rows`` and a ``note`` (what is missing, for a view without its data)."""
    return tables.missing(result) if "missing" in result else VIEWS[result["view"]].table(result)


def text(result: Numbers) -> List[str]:
    """A view's title and table as lines for a terminal."""
    return tables.text(result["title"], table(result))


def render(result: Numbers, out: str, png: bool = False) -> Dict[str, str]:
    """Write a view's chart (SVG; also PNG with ``png``) and numbers in ``out``; return their paths."""
    return charts.render(result, VIEWS[result["view"]].chart, out, png)

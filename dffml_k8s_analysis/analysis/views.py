"""The original's analysis views, pure: records in, numbers out.

Records are ``dffml_k8s_analysis.records.parse.record`` dicts. Each view returns a JSON-ready
dict with ``view``, ``title`` and its numbers:

- ``created``, ``closed``: items per period (``week`` starting Monday,
  ``month``, ``year``; every period between the first and the last, zeros
  included) and the running total. ``--include``/``--exclude`` select items by
  their labels (any label matching include, none matching exclude).
- ``created-vs-closed``: created and closed per period and the items still
  open at the end of each period.
- ``labels-by-name``, ``labels-by-group``: label uses (an item with two
  ``sig/`` labels counts twice in group ``sig``; labels without a ``/`` have no
  group), top N; the regexes select which labels or groups are counted.
- ``users-by-created``, ``users-by-closed``: logins by items authored or
  closed, top N; closed items whose closer is unknown are counted apart.
- ``release-notes-stats``: ``kind/`` labels over the pull requests that have
  a release note, top N.

``operations/analyze.py`` runs them as a dataflow (``dataflows/analyze.yaml``).
"""
import collections
import datetime
import itertools
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..records.selection import SUBSETS, Filter

PERIODS = ("week", "month", "year")


# Time series


def period_key(timestamp: str, period: str) -> str:
    """``2020-03-04T...`` -> ``2020-03`` (month), ``2020`` (year) or ``2020-03-02`` (its week's Monday)."""
    if period == "month":
        return timestamp[:7]
    if period == "year":
        return timestamp[:4]
    day = datetime.date(int(timestamp[:4]), int(timestamp[5:7]), int(timestamp[8:10]))
    return (day - datetime.timedelta(days=day.weekday())).isoformat()


def period_start(key: str) -> datetime.date:
    """The first day of a period key."""
    parts = [int(part) for part in key.split("-")] + [1, 1]
    return datetime.date(*parts[:3])


def period_range(first: str, last: str, period: str) -> List[str]:
    """Every period key from ``first`` to ``last``."""
    keys, day, end = [], period_start(first), period_start(last)
    while day <= end:
        keys.append(period_key(day.isoformat(), period))
        if period == "week":
            day += datetime.timedelta(days=7)
        elif period == "month":
            day = datetime.date(day.year + day.month // 12, day.month % 12 + 1, 1)
        else:
            day = datetime.date(day.year + 1, 1, 1)
    return keys


def _per_period(timestamps: List[str], periods: List[str], period: str) -> List[int]:
    counts = collections.Counter(period_key(stamp, period) for stamp in timestamps)
    return [counts.get(key, 0) for key in periods]


def _running(values: List[int]) -> List[int]:
    return list(itertools.accumulate(values))


def _time_view(records: List[dict], keep: Filter, period: str, fields: Tuple[str, ...]) -> Dict[str, Any]:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    kept = [rec for rec in records if keep.item(rec["labels"])]
    stamps = {name: [rec[f"{name}_at"] for rec in kept if rec[f"{name}_at"]] for name in fields}
    every = [stamp for values in stamps.values() for stamp in values]
    periods = period_range(period_key(min(every), period), period_key(max(every), period), period) if every else []
    numbers = {"period": period, "periods": periods, "items": len(kept)}
    for name in fields:
        numbers[name] = _per_period(stamps[name], periods, period)
        numbers[f"{name}_total"] = len(stamps[name])
    return numbers


def created(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    numbers = _time_view(records, keep, period, ("created",))
    return dict(numbers, cumulative=_running(numbers["created"]))


def closed(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    numbers = _time_view(records, keep, period, ("closed",))
    return dict(numbers, cumulative=_running(numbers["closed"]))


def created_vs_closed(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    numbers = _time_view(records, keep, period, ("created", "closed"))
    opened, shut = _running(numbers["created"]), _running(numbers["closed"])
    return dict(numbers, open=[a - b for a, b in zip(opened, shut)])


# Top-N counts


def top(counter: collections.Counter, count: int) -> Dict[str, Any]:
    """The ``count`` largest entries (ties by name), with how many there were in all."""
    ranked = sorted(counter.items(), key=lambda entry: (-entry[1], entry[0]))
    return {"top": [[name, value] for name, value in ranked[:count]], "distinct": len(counter),
            "total": sum(counter.values()), "count": count}


def _count(names: Iterable[Optional[str]], keep: Filter) -> collections.Counter:
    return collections.Counter(name for name in names if name and keep.key(name))


def labels_by_name(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    return dict(top(_count((name for rec in records for name in rec["labels"]), keep), count), items=len(records))


def labels_by_group(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    groups = (name.partition("/")[0] for rec in records for name in rec["labels"] if "/" in name)
    return dict(top(_count(groups, keep), count), items=len(records))


def users_by_created(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    authors = [rec["author"] for rec in records]
    return dict(top(_count(authors, keep), count), items=len(records), unknown=authors.count(None))


def users_by_closed(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    closers = [rec["closed_by"] for rec in records if rec["closed_at"]]
    return dict(top(_count(closers, keep), count), items=len(closers), unknown=closers.count(None))


def release_notes_stats(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    noted = [rec for rec in records if rec["pull_request"] and rec["release_note"]]
    kinds = _count((name for rec in noted for name in rec["labels"] if name.startswith("kind/")), keep)
    return dict(
        top(kinds, count),
        items=len(noted),
        pull_requests=sum(1 for rec in records if rec["pull_request"]),
        action_required=sum(1 for rec in noted if rec["action_required"]),
        without_kind=sum(1 for rec in noted if not any(name.startswith("kind/") for name in rec["labels"])),
    )


View = Callable[[List[dict], Filter, int, str], Dict[str, Any]]
# name -> (function, title with {subset}, {period} and {count} fields)
VIEWS: Dict[str, Tuple[View, str]] = {
    "created": (created, "Created {subset} per {period}"),
    "closed": (closed, "Closed {subset} per {period}"),
    "created-vs-closed": (created_vs_closed, "Created vs closed {subset} per {period}"),
    "labels-by-name": (labels_by_name, "Label usage by name for {subset} (top {count})"),
    "labels-by-group": (labels_by_group, "Label usage by group for {subset} (top {count})"),
    "users-by-created": (users_by_created, "Users by created {subset} (top {count})"),
    "users-by-closed": (users_by_closed, "Users by closed {subset} (top {count})"),
    "release-notes-stats": (release_notes_stats, "kind/ labels of PRs with a release note (top {count})"),
}


def run_view(name: str, records: List[dict], subset: str = "all", keep: Filter = Filter(),
             count: int = 25, period: str = "month") -> Dict[str, Any]:
    """One view's numbers with its name, title and filters."""
    if name not in VIEWS:
        raise ValueError(f"unknown view {name!r}; views: {', '.join(VIEWS)}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    function, title = VIEWS[name]
    numbers = function(records, keep, count, period)
    return dict(
        numbers,
        view=name,
        subset=subset,
        title=title.format(subset=SUBSETS[subset], period=period, count=count),
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

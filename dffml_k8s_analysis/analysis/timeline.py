"""What the timeline views compute: who answered, reviewed, labelled and merged, and when.

Each function reads an ``analysis.columns.Items`` with the timeline's columns (``store.derived.TIMELINE``)
or label events, and returns JSON-ready numbers like ``analysis.numbers``:

- ``time_to_first_response``: days from created to the first comment or review by someone other than
  the author and not a bot, per period of creation, median and 90th percentile, PRs and issues apart;
  the walked items never answered are counted per period. ``--include``/``--exclude`` select items.
- ``review_latency``: PRs, days from created to the first review and from the first review to the
  merge, per period of creation; the PRs never reviewed counted.
- ``label_provenance``: per label group (``kind``, ``sig``, ``area``) and period of the event, how many
  labels the item's author, other people, bots and deleted accounts (``ghost``) applied, and the shares.
  The regexes select which labels are counted.
- ``time_in_label``: days an item sat in a label (``--include``, default ``^needs-``): from each
  ``labeled`` to the next ``unlabeled`` of that label on that item, or, still on, to the item's close
  or to the store's last activity (its newest creation or close); per label, top N.
- ``new_contributors``: authors per period of their first item, and how many authored another within
  90 days of it (``pending``: their 90 days end after the store's last activity). The regexes select logins.
- ``absence_factor``: per period of the merge, the fewest authors whose merged PRs make at least half
  of that period's (CHAOSS "contributor absence factor"); the regexes select logins.

The views of the timeline (not the last two) answer ``missing`` in a store no timeline export walked.
"""
from typing import Any, Dict

import numpy

from ..records.selection import Filter
from ..store.derived import KINDS
from .columns import Items, names_matching
from .numbers import DAY, Periods, stable_order, quantiles

NO_TIMELINE = "no timeline in this store: run k8s-analysis export --timeline"
GROUPS = ("kind", "sig", "area")
RETURN_DAYS = 90
IN_LABEL = Filter.of("^needs-")  # --include's default for time_in_label


def _missing(period: str) -> Dict[str, Any]:
    return {"period": period, "periods": [], "items": 0, "missing": NO_TIMELINE}


def time_to_first_response(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    if not items.timelines:
        return _missing(period)
    chosen = items.matching(keep) & items.walked
    periods = Periods(items.created[chosen], period)
    numbers: Dict[str, Any] = {"period": period, "periods": periods.keys, "items": int(chosen.sum()), "unit": "days",
                               "not_walked": int((items.matching(keep) & ~items.walked).sum())}
    for kind, is_pr in (("pull_requests", True), ("issues", False)):
        mine = chosen & (items.pull_request == is_pr)
        answered = mine & (items.first_response > 0)
        days = (items.first_response[answered] - items.created[answered]).astype(float) / DAY
        numbers[kind] = quantiles(days, periods.of(items.created[answered]), len(periods.keys), "answered")
        unanswered = periods.count(items.created[mine & ~answered]) if len(periods.keys) else []
        numbers[kind].update(unanswered=unanswered, unanswered_total=int((mine & ~answered).sum()))
    return numbers


def review_latency(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    if not items.timelines:
        return _missing(period)
    chosen = items.matching(keep) & items.walked & items.pull_request
    periods = Periods(items.created[chosen], period)
    reviewed = chosen & (items.first_review > 0)
    merged = reviewed & (items.merged > 0)
    width = len(periods.keys)
    numbers: Dict[str, Any] = {"period": period, "periods": periods.keys, "items": int(chosen.sum()), "unit": "days"}
    for name, mask, start, end in (("to_first_review", reviewed, items.created, items.first_review),
                                   ("to_merge", merged, items.first_review, items.merged)):
        days = (end[mask] - start[mask]).astype(float) / DAY
        numbers[name] = quantiles(days, periods.of(items.created[mask]), width, "counted")
    numbers["unreviewed"] = periods.count(items.created[chosen & ~reviewed]) if width else []
    numbers["unreviewed_total"] = int((chosen & ~reviewed).sum())
    return numbers


def label_provenance(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    if not items.timelines:
        return _missing(period)
    group_of = numpy.array([GROUPS.index(name.partition("/")[0]) if "/" in name and name.partition("/")[0] in GROUPS
                            and keep.key(name) else -1 for name in items.event_names] + [-1], dtype=numpy.int64)
    group = group_of[items.event_label] if len(items.event_label) else numpy.empty(0, numpy.int64)
    chosen = items.event_added & (group >= 0)
    periods = Periods(items.event_at[chosen], period)
    width = len(periods.keys)
    cell = (group[chosen] * len(KINDS) + items.event_kind[chosen]) * width + periods.of(items.event_at[chosen])
    cells = numpy.bincount(cell, minlength=len(GROUPS) * len(KINDS) * width).reshape(len(GROUPS), len(KINDS), width)
    numbers: Dict[str, Any] = {"period": period, "periods": periods.keys, "items": int(len(numpy.unique(
        items.event_item[chosen]))), "applied": int(chosen.sum()), "kinds": list(KINDS), "groups": {}}
    for g, name in enumerate(GROUPS):
        applied = cells[g].sum(axis=0)
        totals = cells[g].sum(axis=1)
        numbers["groups"][name] = {
            "applied": applied.tolist(), "applied_total": int(totals.sum()),
            **{kind: cells[g, k].tolist() for k, kind in enumerate(KINDS)},
            "share": {kind: [round(float(c) / float(a), 3) if a else None for c, a in zip(cells[g, k], applied)]
                      for k, kind in enumerate(KINDS)},
            "share_total": {kind: round(float(totals[k]) / float(totals.sum()), 3) if totals.sum() else None
                            for k, kind in enumerate(KINDS)}}
    return numbers


def last_activity(items: Items) -> int:
    """The newest creation or close: the "now" of the views that need one (the same whatever else was loaded)."""
    return int(max((stamp.max() for stamp in (items.created, items.closed[items.is_closed]) if len(stamp)), default=0))


def time_in_label(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    if not items.timelines:
        return _missing(period)
    keep = keep if keep.include else Filter(IN_LABEL.include, keep.exclude)
    counted = names_matching(items.event_names, keep.key)
    chosen = counted[items.event_label] if len(items.event_label) else numpy.zeros(0, bool)
    now = last_activity(items)
    # In order per (label, item): an event changes the state only where it differs from the one before (a second
    # labeled while on, an unlabeled while off: nothing); the changes alternate on, off, on...
    # the events are in item order: sorted stably by label alone, each (label, item)'s events stay in order
    picked = numpy.flatnonzero(chosen)
    order = picked[stable_order(items.event_label[picked], len(items.event_names))]
    del picked
    item, label, at, added = (getattr(items, name)[order] for name in ("event_item", "event_label", "event_at",
                                                                        "event_added"))
    del order
    first = numpy.r_[True, (item[1:] != item[:-1]) | (label[1:] != label[:-1])] if len(item) else numpy.zeros(0, bool)
    before = numpy.r_[False, added[:-1]] if len(added) else added
    change = added != (before & ~first)
    item, label, at, added, first = item[change], label[change], at[change], added[change], first[change]
    opens = numpy.flatnonzero(added)
    follows = opens + 1 < len(added)
    closed = numpy.zeros(len(opens), bool)
    closed[follows] = ~added[opens[follows] + 1] & ~first[opens[follows] + 1]  # its off in the same (label, item)
    still_on = opens[~closed]
    ends = numpy.where(items.is_closed[item[still_on]], items.closed[item[still_on]], now)
    codes = numpy.concatenate([label[opens[closed]], label[still_on]])
    days = numpy.concatenate([at[opens[closed] + 1] - at[opens[closed]],
                              numpy.maximum(ends - at[still_on], 0)]).astype(float) / DAY
    spans = {int(code): days[codes == code] for code in numpy.unique(codes)}
    still = dict(zip(*(values.tolist() for values in numpy.unique(label[still_on], return_counts=True))))
    rows = []
    for label, days in spans.items():
        figures = quantiles(days, numpy.zeros(len(days), numpy.int64), 1, "stays")
        rows.append([items.event_names[label], figures["stays_total"], still.get(label, 0),
                     figures["median_total"], figures["p90_total"]])
    rows.sort(key=lambda row: (-row[1], row[0]))
    return {"period": period, "labels": rows[:count], "top": [[row[0], row[3]] for row in rows[:count]],
            "distinct": len(rows), "count": count, "stays": sum(row[1] for row in rows), "now": now,
            "matching": keep.include.pattern, "unit": "days"}


def _authors(items: Items, known: numpy.ndarray) -> tuple:
    """The distinct authors of the ``known`` items and each one's code among them (0 to their count)."""
    logins, author = numpy.unique(items.codes("author")[1][known], return_inverse=True)
    return logins, author.reshape(-1)


def new_contributors(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    known = items.logins_kept("author", keep)
    logins, author = _authors(items, known)
    created = items.created[known]
    order = numpy.lexsort((created, author))
    author, created = author[order], created[order]
    starts = numpy.flatnonzero(numpy.r_[True, author[1:] != author[:-1]]) if len(author) else numpy.empty(0, int)
    first = created[starts]
    second = numpy.full(len(starts), numpy.iinfo(numpy.int64).max)
    has_second = numpy.r_[starts[1:], len(author)] - starts > 1
    second[has_second] = created[starts[has_second] + 1]
    returned = second <= first + RETURN_DAYS * DAY
    pending = ~returned & (first + RETURN_DAYS * DAY > last_activity(items))
    periods = Periods(first, period)
    width = len(periods.keys)
    place = periods.of(first)
    return {"period": period, "periods": periods.keys, "items": int(known.sum()), "authors": len(logins),
            "new": periods.count(first) if width else [],
            "returned": numpy.bincount(place[returned], minlength=width).tolist(),
            "pending": numpy.bincount(place[pending], minlength=width).tolist(),
            "returned_total": int(returned.sum()), "pending_total": int(pending.sum()), "days": RETURN_DAYS}


def absence_factor(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    merged = items.pull_request & (items.merged > 0)
    known = merged & items.logins_kept("author", keep)
    periods = Periods(items.merged[known], period)
    width = len(periods.keys)
    logins, author = _authors(items, known)
    place = periods.of(items.merged[known])
    per = numpy.bincount(place * len(logins) + author, minlength=width * len(logins)).reshape(width, len(logins))
    factors, authors = [], []
    for row in per:
        ranked = numpy.sort(row[row > 0])[::-1]
        half = numpy.searchsorted(numpy.cumsum(ranked), ranked.sum() / 2)  # the first count reaching half
        factors.append(int(half) + 1 if len(ranked) else None)
        authors.append(len(ranked))
    return {"period": period, "periods": periods.keys, "items": int(known.sum()), "merged": per.sum(axis=1).tolist(),
            "authors": authors, "factor": factors, "unknown": int((merged & ~known).sum()),
            "walked": int((known & items.walked).sum())}

"""What each analysis view computes: the store's derived columns in, numbers out.

Each function reads an ``analysis.columns.Items`` (numpy arrays, grouped with numpy), a label
``Filter``, a top-N ``count`` and a ``period`` and returns the view's JSON-ready numbers:

- ``created``, ``closed``: items per period (``week`` starting Monday,
  ``month``, ``year``; every period between the first and the last, zeros
  included) and the running total. ``--include``/``--exclude`` select items by
  their labels (any label matching include, none matching exclude).
- ``created_vs_closed``: created and closed per period and the items still
  open at the end of each period.
- ``labels_by_name``, ``labels_by_group``: label uses (an item with two
  ``sig/`` labels counts twice in group ``sig``; labels without a ``/`` have no
  group), top N; the regexes select which labels or groups are counted.
- ``users_by_created``, ``users_by_closed``: logins by items authored or
  closed, top N; closed items whose closer is unknown are counted apart.
- ``release_notes_stats``: ``kind/`` labels over the pull requests that have
  a release note, top N.
- ``time_to_close``: days from created to closed of the items closed in each
  period, median and 90th percentile (linear between ranks), pull requests
  and issues apart; ``null`` for a period in which none closed. The regexes
  select items, as in the time views (and in ``open_candlestick``).
- ``sig_backlog``: items open at the end of each period per ``sig/`` label
  (an item's labels as they are now), the N largest backlogs at the end; the
  regexes select which ``sig/`` labels are counted.
- ``open_candlestick``: the open count's open, high, low and close in each
  period, replaying every creation and close in time order (a creation first
  when both fall on the same second).

``analysis.views`` names them, with their columns, chart, table and title.
"""
import collections
import datetime
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy

from ..records.selection import Filter
from .columns import Items, names_matching

PERIODS = ("week", "month", "year")
DAY = 86400


# Time series: a period is an integer (weeks from Monday 29 December 1969, months or years from 1970)


def period_index(epochs: numpy.ndarray, period: str) -> numpy.ndarray:
    """The period of each epoch second (UTC)."""
    days = epochs // DAY
    if period == "week":
        return (days + 3) // 7  # 1 January 1970 was a Thursday
    unit = "datetime64[M]" if period == "month" else "datetime64[Y]"
    first, last = (int(days.min()), int(days.max())) if len(days) else (0, -1)
    if last - first > len(days) + 40000:  # a few epochs years apart: each converted alone
        return epochs.astype("datetime64[s]").astype(unit).astype(numpy.int64)
    # the period of each day between the first and the last, looked up: numpy's calendar runs once a day, not an epoch
    return numpy.arange(first, last + 1).astype("datetime64[D]").astype(unit).astype(numpy.int64)[days - first]


def period_keys(first: int, last: int, period: str) -> List[str]:
    """``2020-03`` (month), ``2020`` (year) or ``2020-03-02`` (its week's Monday) of every period from first to last."""
    indices = numpy.arange(first, last + 1)
    if period == "week":
        return (indices * 7 - 3).astype("datetime64[D]").astype(str).tolist()
    return indices.astype("datetime64[M]" if period == "month" else "datetime64[Y]").astype(str).tolist()


def period_start(key: str) -> datetime.date:
    """The first day of a period key."""
    parts = [int(part) for part in key.split("-")] + [1, 1]
    return datetime.date(*parts[:3])


class Periods:
    """Every period from the first to the last of some epochs, and each epoch's place among them."""

    def __init__(self, epochs: numpy.ndarray, period: str):
        if period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
        self.period = period
        indices = period_index(epochs, period)
        self.first = int(indices.min()) if len(indices) else 0
        self.keys = period_keys(self.first, int(indices.max()), period) if len(indices) else []

    def of(self, epochs: numpy.ndarray) -> numpy.ndarray:
        return period_index(epochs, self.period) - self.first

    def count(self, epochs: numpy.ndarray) -> List[int]:
        return numpy.bincount(self.of(epochs), minlength=len(self.keys)).tolist()


def _time_view(items: Items, keep: Filter, period: str, fields: Tuple[str, ...]) -> Dict[str, Any]:
    kept = items.matching(keep)
    stamps = {name: items.created[kept] if name == "created" else items.closed[kept & items.is_closed]
              for name in fields}
    periods = Periods(numpy.concatenate([stamps[name] for name in fields]), period)
    numbers = {"period": period, "periods": periods.keys, "items": int(kept.sum())}
    for name in fields:
        numbers[name] = periods.count(stamps[name])
        numbers[f"{name}_total"] = len(stamps[name])
    return numbers


def _running(values: List[int]) -> List[int]:
    return numpy.cumsum(values, dtype=numpy.int64).tolist()


def created(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    numbers = _time_view(items, keep, period, ("created",))
    return dict(numbers, cumulative=_running(numbers["created"]))


def closed(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    numbers = _time_view(items, keep, period, ("closed",))
    return dict(numbers, cumulative=_running(numbers["closed"]))


def created_vs_closed(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    numbers = _time_view(items, keep, period, ("created", "closed"))
    opened = numpy.cumsum(numpy.array(numbers["created"], dtype=numpy.int64) - numbers["closed"])
    return dict(numbers, open=opened.tolist())


def _percentile(ranked: numpy.ndarray, q: float) -> float:
    """The q-th percentile of sorted values, linear between closest ranks (numpy's default), to 3 decimals."""
    position = (len(ranked) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ranked) - 1)
    return round(float(ranked[low]) + (float(ranked[high]) - float(ranked[low])) * (position - low), 3)


def stable_order(codes: numpy.ndarray, count: int) -> numpy.ndarray:
    """The stable sorting order of small non-negative integer codes below ``count`` (numpy's radix sort for
    16 bits)."""
    return numpy.argsort(codes.astype(numpy.int16) if count < 2**15 else codes, kind="stable")


def quantiles(days: numpy.ndarray, place: numpy.ndarray, width: int, name: str) -> Dict[str, Any]:
    """Of values each in a period (``place``, of ``width``): how many (``name``), median and 90th percentile per
    period (None: none there) and over all."""
    order = numpy.argsort(days)
    every = days[order]
    ranked = every[stable_order(place[order], width)]  # by period, sorted within each
    per = numpy.bincount(place, minlength=width)
    held = numpy.flatnonzero(per)
    starts, sizes = (numpy.cumsum(per) - per)[held], per[held]
    numbers: Dict[str, Any] = {name: per.tolist(), f"{name}_total": len(every)}
    for key, q in (("median", 50), ("p90", 90)):
        # ``_percentile`` of every period at once, the same float operations in the same order
        position = (sizes - 1) * q / 100
        low = position.astype(numpy.int64)
        below, above = ranked[starts + low], ranked[starts + numpy.minimum(low + 1, sizes - 1)]
        values: List[Optional[float]] = [None] * width
        for i, value in zip(held.tolist(), (below + (above - below) * (position - low)).tolist()):
            values[i] = round(value, 3)
        numbers[key] = values
        numbers[f"{key}_total"] = _percentile(every, q) if len(every) else None
    return numbers


def time_to_close(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    chosen = items.matching(keep) & items.is_closed
    periods = Periods(items.closed[chosen], period)
    numbers: Dict[str, Any] = {"period": period, "periods": periods.keys, "items": int(chosen.sum()), "unit": "days"}
    for kind, is_pr in (("pull_requests", True), ("issues", False)):
        mask = chosen & (items.pull_request == is_pr)
        days = (items.closed[mask] - items.created[mask]).astype(float) / DAY
        numbers[kind] = quantiles(days, periods.of(items.closed[mask]), len(periods.keys), "closed")
    return numbers


def sig_backlog(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    counted = names_matching(items.names, lambda name: name.startswith("sig/") and keep.key(name))
    mask = counted[items.label_code]
    pairs = numpy.unique(items.label_code[mask] * len(items) + items.label_item[mask])  # an item's sig once
    sigs, item = pairs // max(len(items), 1), pairs % max(len(items), 1)
    holders = numpy.unique(item)
    shut = holders[items.is_closed[holders]]
    periods = Periods(numpy.concatenate([items.created[holders], items.closed[shut]]), period)
    rows, row = numpy.unique(sigs, return_inverse=True)
    width = len(periods.keys)
    net = numpy.zeros(len(rows) * width, dtype=numpy.int64)
    numpy.add.at(net, row * width + periods.of(items.created[item]), 1)
    closing = items.is_closed[item]
    numpy.add.at(net, row[closing] * width + periods.of(items.closed[item[closing]]), -1)
    backlog = {items.names[code]: series.tolist()
               for code, series in zip(rows.tolist(), numpy.cumsum(net.reshape(len(rows), width), axis=1))}
    ranked = sorted(backlog, key=lambda name: (-backlog[name][-1], -max(backlog[name]), name))
    return {"period": period, "periods": periods.keys, "sigs": {name: backlog[name] for name in ranked[:count]},
            "distinct": len(backlog), "count": count, "items": len(holders)}


def open_candlestick(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    kept = items.matching(keep)
    shut = kept & items.is_closed
    times = numpy.concatenate([items.created[kept], items.closed[shut]])
    closes = numpy.concatenate([numpy.zeros(kept.sum(), dtype=bool), numpy.ones(shut.sum(), dtype=bool)])
    order = numpy.lexsort((closes, times))  # in time order, a creation before a close of the same second
    step = numpy.where(closes[order], -1, 1)
    level = numpy.cumsum(step)
    periods = Periods(times, period)
    place = periods.of(times[order])
    present, firsts = numpy.unique(place, return_index=True)
    found = {}
    if len(level):
        opens, closes = level[firsts] - step[firsts], level[numpy.append(firsts[1:], len(level)) - 1]
        highs = numpy.maximum(opens, numpy.maximum.reduceat(level, firsts))
        lows = numpy.minimum(opens, numpy.minimum.reduceat(level, firsts))
        found = dict(zip(present.tolist(), zip(opens.tolist(), highs.tolist(), lows.tolist(), closes.tolist())))
    ohlc, last = [], 0
    for key in range(len(periods.keys)):  # a period without events: a flat candle at the level it inherits
        candle = found.get(key, (last,) * 4)
        last = candle[3]
        ohlc.append(candle)
    return {"period": period, "periods": periods.keys, "items": int(kept.sum()),
            **{name: [candle[i] for candle in ohlc] for i, name in enumerate(("open", "high", "low", "close"))}}


# Top-N counts


def top(counter: collections.Counter, count: int) -> Dict[str, Any]:
    """The ``count`` largest entries (ties by name), with how many there were in all."""
    ranked = sorted(counter.items(), key=lambda entry: (-entry[1], entry[0]))
    return {"top": [[name, value] for name, value in ranked[:count]], "distinct": len(counter),
            "total": sum(counter.values()), "count": count}


def _label_counter(items: Items, keep: Filter, mask: Any = None, group: Callable[[str], Optional[str]] = str):
    """Uses per label (or per ``group(label)``, None: not counted) that ``keep.key`` keeps."""
    counter: collections.Counter = collections.Counter()
    for name, uses in zip(items.names, items.label_counts(mask).tolist()):
        key = group(name) if uses else None
        if key and keep.key(key):
            counter[key] += uses
    return counter


def labels_by_name(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    return dict(top(_label_counter(items, keep), count), items=len(items))


def labels_by_group(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    groups = _label_counter(items, keep, group=lambda name: name.partition("/")[0] if "/" in name else None)
    return dict(top(groups, count), items=len(items))


def _users(logins: numpy.ndarray, keep: Filter, count: int) -> Dict[str, Any]:
    every = collections.Counter(logins.tolist())
    known = collections.Counter({name: uses for name, uses in every.items() if name and keep.key(name)})
    return dict(top(known, count), items=len(logins), unknown=every[None])


def users_by_created(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    return _users(items.author, keep, count)


def users_by_closed(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    return _users(items.closed_by[items.is_closed], keep, count)


def release_notes_stats(items: Items, keep: Filter, count: int, period: str) -> Dict[str, Any]:
    noted = items.noted & items.pull_request
    kind = names_matching(items.names, lambda name: name.startswith("kind/"))
    with_kind = numpy.zeros(len(items), dtype=bool)
    with_kind[items.label_item[kind[items.label_code]]] = True
    kinds = _label_counter(items, keep, noted, group=lambda name: name if name.startswith("kind/") else None)
    return dict(
        top(kinds, count),
        items=int(noted.sum()),
        pull_requests=int(items.pull_request.sum()),
        action_required=int((noted & items.action_required).sum()),
        without_kind=int((noted & ~with_kind).sum()),
    )

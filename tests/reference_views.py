"""The views as they were before the derived columns: pure Python over ``records.parse`` records.

The reference ``test_views_columns.py`` holds the numpy views to (the same numbers, exactly), and
``bench/analyze.py``'s old path. Only the per-view record logic is here; titles, ``top`` and the
period keys' first days come from the runtime module.
"""
import collections
import datetime
import itertools
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from dffml_k8s_analysis.analysis.numbers import PERIODS, period_start, top
from dffml_k8s_analysis.records.selection import Filter


# Time series


def period_key(timestamp: str, period: str) -> str:
    """``2020-03-04T...`` -> ``2020-03`` (month), ``2020`` (year) or ``2020-03-02`` (its week's Monday)."""
    if period == "month":
        return timestamp[:7]
    if period == "year":
        return timestamp[:4]
    day = datetime.date(int(timestamp[:4]), int(timestamp[5:7]), int(timestamp[8:10]))
    return (day - datetime.timedelta(days=day.weekday())).isoformat()


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


def period_keys(period: str) -> Callable[[str], str]:
    """``period_key`` for many timestamps, computed once per day."""
    cache: Dict[str, str] = {}

    def key(timestamp: str) -> str:
        day = timestamp[:10]
        if day not in cache:
            cache[day] = period_key(day, period)
        return cache[day]

    return key


def _per_period(timestamps: List[str], periods: List[str], period: str) -> List[int]:
    counts = collections.Counter(period_key(stamp, period) for stamp in timestamps)
    return [counts.get(key, 0) for key in periods]


def _running(values: List[int]) -> List[int]:
    return list(itertools.accumulate(values))


def _periods_of(stamps: List[str], period: str) -> List[str]:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    return period_range(period_key(min(stamps), period), period_key(max(stamps), period), period) if stamps else []


def _time_view(records: List[dict], keep: Filter, period: str, fields: Tuple[str, ...]) -> Dict[str, Any]:
    kept = [rec for rec in records if keep.item(rec["labels"])]
    stamps = {name: [rec[f"{name}_at"] for rec in kept if rec[f"{name}_at"]] for name in fields}
    periods = _periods_of([stamp for values in stamps.values() for stamp in values], period)
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


def _days(start: str, end: str) -> float:
    parse = datetime.datetime.fromisoformat  # reads GitHub's trailing Z since Python 3.11
    return (parse(end) - parse(start)).total_seconds() / 86400


def percentile(values: List[float], q: float) -> float:
    """The q-th percentile, linear between closest ranks (numpy's default)."""
    ranked = sorted(values)
    position = (len(ranked) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ranked) - 1)
    return ranked[low] + (ranked[high] - ranked[low]) * (position - low)


def time_to_close(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    closed_ones = [rec for rec in records if rec["closed_at"] and keep.item(rec["labels"])]
    periods = _periods_of([rec["closed_at"] for rec in closed_ones], period)
    numbers: Dict[str, Any] = {"period": period, "periods": periods, "items": len(closed_ones), "unit": "days"}
    period_of = period_keys(period)
    for kind, is_pr in (("pull_requests", True), ("issues", False)):
        days: Dict[str, List[float]] = {key: [] for key in periods}
        for rec in closed_ones:
            if rec["pull_request"] == is_pr:
                days[period_of(rec["closed_at"])].append(_days(rec["created_at"], rec["closed_at"]))
        every = [value for values in days.values() for value in values]
        numbers[kind] = {"closed": [len(days[key]) for key in periods], "closed_total": len(every)}
        for name, q in (("median", 50), ("p90", 90)):
            numbers[kind][name] = [round(percentile(days[key], q), 3) if days[key] else None for key in periods]
            numbers[kind][f"{name}_total"] = round(percentile(every, q), 3) if every else None
    return numbers


def sig_backlog(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    period_of = period_keys(period)
    opened: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)  # sig -> period -> net
    stamps, items = [], 0
    for rec in records:
        sigs = [name for name in set(rec["labels"]) if name.startswith("sig/") and keep.key(name)]
        if not sigs:
            continue
        items += 1
        stamps.append(rec["created_at"])
        created, closed = period_of(rec["created_at"]), rec["closed_at"] and period_of(rec["closed_at"])
        if closed:
            stamps.append(rec["closed_at"])
        for name in sigs:
            opened[name][created] += 1
            if closed:
                opened[name][closed] -= 1
    periods = _periods_of(stamps, period)
    backlog = {name: _running([net.get(key, 0) for key in periods]) for name, net in opened.items()}
    ranked = sorted(backlog, key=lambda name: (-backlog[name][-1], -max(backlog[name]), name))
    return {"period": period, "periods": periods, "sigs": {name: backlog[name] for name in ranked[:count]},
            "distinct": len(backlog), "count": count, "items": items}


def open_candlestick(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    kept = [rec for rec in records if keep.item(rec["labels"])]
    # One string per event, "+" for a creation, "-" for a close: sorted, a creation comes first in its second.
    events = sorted([rec["created_at"] + "+" for rec in kept] + [rec["closed_at"] + "-" for rec in kept if rec["closed_at"]])
    periods = _periods_of(events, period)
    candles: Dict[str, List[int]] = {}
    level, period_of = 0, period_keys(period)
    for day, group in itertools.groupby(events, key=lambda event: event[:10]):
        candle = candles.setdefault(period_of(day), [level] * 4)  # open, high, low, close
        high, low = candle[1], candle[2]
        for event in group:
            level += 1 if event[-1] == "+" else -1
            high, low = max(high, level), min(low, level)
        candle[1:] = [high, low, level]
    ohlc, last = [], 0
    for key in periods:  # a period without events: a flat candle at the level it inherits
        candle = candles.get(key, [last] * 4)
        last = candle[3]
        ohlc.append(candle)
    return {"period": period, "periods": periods, "items": len(kept),
            **{name: [candle[i] for candle in ohlc] for i, name in enumerate(("open", "high", "low", "close"))}}


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


REFERENCE = {"created": created, "closed": closed, "created-vs-closed": created_vs_closed,
             "labels-by-name": labels_by_name, "labels-by-group": labels_by_group,
             "users-by-created": users_by_created, "users-by-closed": users_by_closed,
             "release-notes-stats": release_notes_stats, "time-to-close": time_to_close,
             "sig-backlog": sig_backlog, "open-candlestick": open_candlestick}

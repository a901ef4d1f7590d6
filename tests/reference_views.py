"""The views as they were before the derived columns: pure Python over ``records.parse`` records.

The reference ``test_views_columns.py`` holds the numpy views to (the same numbers, exactly), and
``bench/analyze.py``'s old path. Only the per-view record logic is here; titles, ``top`` and the
period keys' first days come from the runtime module.
"""
import calendar
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


# The timeline views: records with ``attach_timeline``'s keys


def attach_timeline(records: List[dict], path) -> List[dict]:
    """Each record with its ``timeline`` row (a dict, None: not walked), its label ``events`` in order
    (at, action, label, actor kind) and its raw ``merged_at`` (epoch seconds, None)."""
    from dffml_k8s_analysis.store import open_store

    with open_store(path) as store:
        names = ("first_response_at", "first_review_at", "merged_at")
        rows = {row[0]: dict(zip(names, row[1:])) for row in store.execute(
            "SELECT number, first_response_at, first_review_at, merged_at FROM timeline")}
        events = collections.defaultdict(list)
        for number, at, action, label, kind in store.execute(
                "SELECT number, at, action, label, actor_kind FROM label_events ORDER BY number, seq"):
            events[number].append((at, action, label, kind))
        raws = {raw["number"]: raw for raw in store.raw_items([]) if isinstance(raw, dict)}
    for rec in records:
        rec["timeline"], rec["events"] = rows.get(rec["number"]), events.get(rec["number"], [])
        merged = (raws[rec["number"]].get("pull_request") or {}).get("merged_at")
        rec["raw_merged_at"] = _epoch(merged) if isinstance(merged, str) else None
    return records


def _epoch(stamp: str) -> int:
    return calendar.timegm(datetime.datetime.fromisoformat(stamp).utctimetuple())


MISSING = "no timeline in this store: run k8s-analysis export --timeline"


def _quantiles(days: Dict[str, List[float]], periods: List[str], name: str) -> Dict[str, Any]:
    every = [value for values in days.values() for value in values]
    numbers: Dict[str, Any] = {name: [len(days[key]) for key in periods], f"{name}_total": len(every)}
    for key, q in (("median", 50), ("p90", 90)):
        numbers[key] = [round(percentile(days[key], q), 3) if days[key] else None for key in periods]
        numbers[f"{key}_total"] = round(percentile(every, q), 3) if every else None
    return numbers


def _walked(records: List[dict], keep: Filter) -> Optional[List[dict]]:
    """The records the timeline walked that ``keep`` keeps; None in a store never walked."""
    if not any(rec["timeline"] for rec in records):
        return None
    return [rec for rec in records if rec["timeline"] and keep.item(rec["labels"])]


def _gone(period: str) -> Dict[str, Any]:
    return {"period": period, "periods": [], "items": 0, "missing": MISSING}


def time_to_first_response(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    walked = _walked(records, keep)
    if walked is None:
        return _gone(period)
    periods = _periods_of([rec["created_at"] for rec in walked], period)
    numbers: Dict[str, Any] = {"period": period, "periods": periods, "items": len(walked), "unit": "days",
                               "not_walked": sum(1 for rec in records if not rec["timeline"] and keep.item(rec["labels"]))}
    for kind, is_pr in (("pull_requests", True), ("issues", False)):
        days: Dict[str, List[float]] = {key: [] for key in periods}
        never = collections.Counter()
        for rec in walked:
            if rec["pull_request"] != is_pr:
                continue
            answered = rec["timeline"]["first_response_at"]
            if answered:
                days[period_key(rec["created_at"], period)].append((answered - _epoch(rec["created_at"])) / 86400)
            else:
                never[period_key(rec["created_at"], period)] += 1
        numbers[kind] = dict(_quantiles(days, periods, "answered"), unanswered=[never[key] for key in periods],
                             unanswered_total=sum(never.values()))
    return numbers


def review_latency(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    walked = _walked(records, keep)
    if walked is None:
        return _gone(period)
    prs = [rec for rec in walked if rec["pull_request"]]
    periods = _periods_of([rec["created_at"] for rec in prs], period)
    review: Dict[str, List[float]] = {key: [] for key in periods}
    merge: Dict[str, List[float]] = {key: [] for key in periods}
    never = collections.Counter()
    for rec in prs:
        key, first, merged = period_key(rec["created_at"], period), rec["timeline"]["first_review_at"], rec["timeline"]["merged_at"]
        if not first:
            never[key] += 1
            continue
        review[key].append((first - _epoch(rec["created_at"])) / 86400)
        if merged:
            merge[key].append((merged - first) / 86400)
    return {"period": period, "periods": periods, "items": len(prs), "unit": "days",
            "to_first_review": _quantiles(review, periods, "counted"), "to_merge": _quantiles(merge, periods, "counted"),
            "unreviewed": [never[key] for key in periods], "unreviewed_total": sum(never.values())}


def label_provenance(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    if _walked(records, Filter()) is None:
        return _gone(period)
    kinds = ["author", "person", "bot", "ghost"]
    applied = [(rec["number"], at, label.partition("/")[0], kind if kind in kinds else "ghost")
               for rec in records for at, action, label, kind in rec["events"]
               if action == "labeled" and label.partition("/")[0] in ("kind", "sig", "area") and "/" in label
               and keep.key(label)]
    stamps = [datetime.datetime.fromtimestamp(at, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
              for _, at, _, _ in applied]
    periods = _periods_of(stamps, period)
    cells = collections.Counter((group, kind, period_key(stamp, period)) for (_, _, group, kind), stamp in zip(applied, stamps))
    groups = {}
    for group in ("kind", "sig", "area"):
        per = {kind: [cells[group, kind, key] for key in periods] for kind in kinds}
        sums = [sum(per[kind][i] for kind in kinds) for i in range(len(periods))]
        total = sum(sums)
        groups[group] = {"applied": sums, "applied_total": total, **per,
                         "share": {kind: [round(c / a, 3) if a else None for c, a in zip(per[kind], sums)] for kind in kinds},
                         "share_total": {kind: round(sum(per[kind]) / total, 3) if total else None for kind in kinds}}
    return {"period": period, "periods": periods, "items": len({number for number, *_ in applied}),
            "applied": len(applied), "kinds": kinds, "groups": groups}


def _now(records: List[dict]) -> int:
    return max([_epoch(rec["created_at"]) for rec in records] + [_epoch(rec["closed_at"]) for rec in records
                                                                 if rec["closed_at"]], default=0)


def time_in_label(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    if _walked(records, Filter()) is None:
        return _gone(period)
    keep = keep if keep.include else Filter.of("^needs-", keep.exclude.pattern if keep.exclude else "")
    now, stays, still = _now(records), collections.defaultdict(list), collections.Counter()
    for rec in records:
        on: Dict[str, int] = {}
        for at, action, label, _ in rec["events"]:
            if not keep.key(label):
                continue
            if action == "labeled":
                on.setdefault(label, at)
            elif label in on:
                stays[label].append((at - on.pop(label)) / 86400)
        for label, at in on.items():
            end = _epoch(rec["closed_at"]) if rec["closed_at"] else now
            stays[label].append(max(end - at, 0) / 86400)
            still[label] += 1
    rows = sorted(([label, len(days), still[label], round(percentile(days, 50), 3), round(percentile(days, 90), 3)]
                   for label, days in stays.items()), key=lambda row: (-row[1], row[0]))
    return {"period": period, "labels": rows[:count], "top": [[row[0], row[3]] for row in rows[:count]],
            "distinct": len(rows), "count": count, "stays": sum(row[1] for row in rows), "now": now,
            "matching": keep.include.pattern, "unit": "days"}


def new_contributors(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    authored = collections.defaultdict(list)
    for rec in records:
        if rec["author"] is not None and keep.key(rec["author"]):
            authored[rec["author"]].append(_epoch(rec["created_at"]))
    now, window = _now(records), 90 * 86400
    firsts = {login: sorted(stamps) for login, stamps in authored.items()}
    stamp = {login: datetime.datetime.fromtimestamp(times[0], datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
             for login, times in firsts.items()}
    periods = _periods_of(list(stamp.values()), period)
    new, back, pending = collections.Counter(), collections.Counter(), collections.Counter()
    for login, times in firsts.items():
        key = period_key(stamp[login], period)
        new[key] += 1
        if len(times) > 1 and times[1] <= times[0] + window:
            back[key] += 1
        elif times[0] + window > now:
            pending[key] += 1
    return {"period": period, "periods": periods, "items": sum(len(times) for times in firsts.values()),
            "authors": len(firsts), "new": [new[key] for key in periods], "returned": [back[key] for key in periods],
            "pending": [pending[key] for key in periods], "returned_total": sum(back.values()),
            "pending_total": sum(pending.values()), "days": 90}


def absence_factor(records: List[dict], keep: Filter, count: int, period: str) -> Dict[str, Any]:
    merges, unknown, walked = [], 0, 0
    for rec in records:
        merged = (rec["timeline"] or {}).get("merged_at") if rec["timeline"] else rec["raw_merged_at"]
        if not rec["pull_request"] or not merged:
            continue
        if rec["author"] is None or not keep.key(rec["author"]):
            unknown += 1
            continue
        walked += bool(rec["timeline"])
        merges.append((datetime.datetime.fromtimestamp(merged, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       rec["author"]))
    periods = _periods_of([stamp for stamp, _ in merges], period)
    per = {key: collections.Counter() for key in periods}
    for stamp, login in merges:
        per[period_key(stamp, period)][login] += 1
    factors = []
    for key in periods:
        ranked, total, running = sorted(per[key].values(), reverse=True), sum(per[key].values()), 0
        for i, merged in enumerate(ranked):
            running += merged
            if running * 2 >= total:
                factors.append(i + 1)
                break
        else:
            factors.append(None)
    return {"period": period, "periods": periods, "items": len(merges),
            "merged": [sum(per[key].values()) for key in periods], "authors": [len(per[key]) for key in periods],
            "factor": factors, "unknown": unknown, "walked": walked}


REFERENCE = {"created": created, "closed": closed, "created-vs-closed": created_vs_closed,
             "labels-by-name": labels_by_name, "labels-by-group": labels_by_group,
             "users-by-created": users_by_created, "users-by-closed": users_by_closed,
             "release-notes-stats": release_notes_stats, "time-to-close": time_to_close,
             "sig-backlog": sig_backlog, "open-candlestick": open_candlestick,
             "time-to-first-response": time_to_first_response, "review-latency": review_latency,
             "label-provenance": label_provenance, "time-in-label": time_in_label,
             "new-contributors": new_contributors, "absence-factor": absence_factor}

"""The store's derived columns: each item's ``derived`` row and ``labels``, kept with its raw JSON.

``write`` runs inside the transaction that upserts a page of items and derives the items that
won the upsert, so the columns always describe the stored JSON. ``fill`` derives every item once,
as a migration of a store written before the columns existed (``migrations.py``); ``read`` gives the
analysis the columns it asks for as numpy arrays, or, from such a store never opened for writing
since, derives them in memory (the same numbers, slower). Portable SQL only: ``?`` placeholders,
plain INSERT/DELETE, LEFT JOIN, COALESCE, CASE.
"""
import collections
import itertools
import json
import logging
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy
from tqdm import tqdm

from .. import timeutil
from ..derive import Derived, Malformed, derive, problem_row

BATCH = 1000
COLUMNS = Derived._fields
INSERT_ROW = f"INSERT INTO derived ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
INSERT_LABEL = "INSERT INTO labels (number, position, name) VALUES (?, ?, ?)"
# What a view may read of each well-formed item, by name: integers, then texts (who closed it falls back
# on the closers walk); ``read`` selects only the names asked for, so one view reads only what it needs.
NUMBERS = {"number": "d.number", "pull_request": "d.pull_request", "created": "d.created_at",
           "is_closed": "CASE WHEN d.closed_at IS NULL THEN 0 ELSE 1 END", "closed": "COALESCE(d.closed_at, 0)",
           "noted": "CASE WHEN d.release_note IS NULL THEN 0 ELSE 1 END", "action_required": "d.action_required"}
# The timeline export's (migration 7), 0 where an item has none: walked (it has a timeline row), its first
# response, first review and merge (a PR not walked: the merge its raw JSON names, see ``_raw_merges``).
TIMELINE = {"walked": "CASE WHEN t.number IS NULL THEN 0 ELSE 1 END", "first_response": "COALESCE(t.first_response_at, 0)",
            "first_review": "COALESCE(t.first_review_at, 0)", "merged": "COALESCE(t.merged_at, 0)"}
NUMBERS.update(TIMELINE)
TIMELINE_AT = 7  # the version from which a store has the timeline's tables
TEXTS = {"author": "d.author", "closed_by": "COALESCE(d.closed_by, c.login)"}
WELL_FORMED = "FROM derived d{} WHERE d.problem IS NULL ORDER BY d.number"
WELL_FORMED_COUNT = "SELECT COUNT(*) FROM derived WHERE problem IS NULL"
CLOSERS = " LEFT JOIN closers c ON c.number = d.number"
WALKED = " LEFT JOIN timeline t ON t.number = d.number"
UNWALKED_MERGES = "SELECT i.number, i.raw FROM items i{} WHERE i.is_pull_request = 1{} ORDER BY i.number"
KINDS = ("author", "person", "bot", "ghost")  # label_events.actor_kind (``EVENTS`` codes them); another: ghost
EVENT_LABELS = "SELECT DISTINCT label FROM label_events"  # from the index label_events_by_label
# One sequential scan, every value an integer (the label's code by a CASE of the names asked for): an index
# lookup per event, or a Python string per event, costs several times as much.
EVENTS = ("SELECT CAST(number AS BIGINT) * 65536 + seq, at, (CASE label {} END) * 8 + (CASE actor_kind WHEN 'author' "
          "THEN 0 WHEN 'person' THEN 1 WHEN 'bot' THEN 2 ELSE 3 END) * 2 + (CASE WHEN action = 'labeled' THEN 1 ELSE 0 "
          "END) FROM label_events WHERE label IN ({})")
EVENT_COUNT = "SELECT COUNT(*) FROM label_events WHERE label IN ({})"
UNWALKED_PRS = ("SELECT d.number FROM derived d LEFT JOIN timeline t ON t.number = d.number WHERE d.problem IS NULL "
                "AND d.pull_request = 1 AND d.closed_at IS NOT NULL AND t.number IS NULL ORDER BY d.number")
NAMES = "SELECT DISTINCT name FROM labels ORDER BY name"
LABELLED = "SELECT number FROM labels WHERE name = ? ORDER BY number"  # from the index labels_by_name
COUNTS = "SELECT name, COUNT(*) FROM labels GROUP BY name ORDER BY name"  # a malformed item has no labels
PROBLEMS = "SELECT number, problem FROM derived WHERE problem IS NOT NULL ORDER BY number"

log = logging.getLogger(__name__)


class Columns(NamedTuple):
    """What the views read, as numpy arrays: a row per item of the ``NUMBERS`` asked for (``numbers`` order),
    a column per ``TEXTS`` asked for, each label with the numbers of its uses (None: not asked for), and one
    message per malformed item."""

    numbers: Tuple[str, ...]
    texts: Tuple[str, ...]
    number_table: numpy.ndarray
    text_columns: Tuple[numpy.ndarray, ...]
    labels: Optional[Dict[str, numpy.ndarray]]
    problems: List[str]
    counts: Optional[Dict[str, int]] = None  # uses per label name, when asked for
    timelines: int = 0  # the items with a timeline row (the timeline export walked them)
    events: Optional[numpy.ndarray] = None  # label events, when asked for: number, at, label code << 3 | kind << 1 | added
    event_names: Tuple[str, ...] = ()  # the label names that the events' label codes index


def _table(numbers: Tuple[str, ...], rows: List[tuple]) -> numpy.ndarray:
    return numpy.array(rows, dtype=numpy.int64).reshape(len(rows), len(numbers))


def _texts(texts: Tuple[str, ...], rows: List[tuple]) -> Tuple[numpy.ndarray, ...]:
    """A column per text, each login one str object however often it occurs."""
    once: Dict[str, str] = {}
    return tuple(numpy.array([None if row[i] is None else once.setdefault(row[i], row[i]) for row in rows],
                             dtype=object) for i in range(len(texts)))


def _text_columns(rows: Iterable[tuple], count: int, width: int) -> Tuple[numpy.ndarray, ...]:
    """A column per text of ``count`` rows, filled a row at a time (never a list of every row), each login one
    str object however often it occurs."""
    columns = [numpy.empty(count, dtype=object) for _ in range(width)]
    once: Dict[str, str] = {}
    for i, row in enumerate(itertools.islice(rows, count)):
        for column, value in zip(columns, row):
            column[i] = None if value is None else once.setdefault(value, value)
    return tuple(columns)


def _numbers(rows: List[tuple]) -> numpy.ndarray:
    return numpy.fromiter((number for (number,) in rows), numpy.int64, len(rows))


def _derive(number: int, raw) -> Tuple[Derived, List[str]]:
    try:
        return derive(raw)
    except Malformed as error:
        return problem_row(number, str(error)), []


def _insert(store, derived: Iterable[Tuple[Derived, List[str]]]) -> None:
    rows, labels = [], []
    for row, names in derived:
        rows.append(row)
        labels.extend((row.number, position, name) for position, name in enumerate(names))
    store.executemany(INSERT_ROW, rows)
    store.executemany(INSERT_LABEL, labels)


def write(store, items: List[dict]) -> None:
    """Derive the page's items that the upsert kept (the last of a number with the stored ``updated_at``)."""
    if not items:
        return
    numbers = sorted({item["number"] for item in items})
    marks = ", ".join("?" * len(numbers))
    stored = dict(store.execute(f"SELECT number, updated_at FROM items WHERE number IN ({marks})", numbers))
    kept: Dict[int, dict] = {item["number"]: item for item in items if item["updated_at"] == stored[item["number"]]}
    if kept:
        marks = ", ".join("?" * len(kept))
        for table in ("derived", "labels"):
            store.execute(f"DELETE FROM {table} WHERE number IN ({marks})", list(kept))
        _insert(store, (_derive(number, item) for number, item in kept.items()))


def _stored(batch: Iterable[Tuple[int, str]]):
    for number, raw in batch:
        try:
            yield _derive(number, json.loads(raw))
        except ValueError:
            yield problem_row(number, f"#{number}: its stored JSON is invalid"), []


def fill(store) -> None:
    """Derive every stored item, inside the caller's transaction, with a progress bar."""
    ((total,),) = store.execute("SELECT COUNT(*) FROM items")
    with tqdm(total=total, unit="item", desc=f"deriving columns of {store.name}", disable=total == 0) as bar:
        store.execute("DELETE FROM derived")
        store.execute("DELETE FROM labels")
        rows = iter(store.stream("SELECT number, raw FROM items ORDER BY number"))
        while True:
            batch = list(itertools.islice(rows, BATCH))
            if not batch:
                break
            _insert(store, list(_stored(batch)))
            bar.update(len(batch))


def _has_timeline(store) -> bool:
    return store.version >= TIMELINE_AT


def _select(store, names: Sequence[str], expressions: Dict[str, str]) -> str:
    join = CLOSERS if "closed_by" in names else ""
    walked = any(name in TIMELINE for name in names)
    if walked and _has_timeline(store):
        join += WALKED
    elif walked:  # a store from before the timeline (read-only): no item was walked
        expressions = dict(expressions, **{name: "0" for name in TIMELINE})
    return f"SELECT {', '.join(expressions[name] for name in names)} {WELL_FORMED.format(join)}"


def _filled(rows: Iterable[tuple], count: int, width: int) -> numpy.ndarray:
    """``count`` integer rows as one int64 array, filled ``BATCH * 100`` rows at a time: never a list of them all."""
    table, rows, done = numpy.empty((count, width), numpy.int64), iter(rows), 0
    while done < count:
        batch = list(itertools.islice(rows, min(BATCH * 100, count - done)))
        if not batch:
            break
        table[done:done + len(batch)] = batch
        done += len(batch)
    return table[:done]


def _unwalked_raws(store) -> Iterable[Tuple[int, str]]:
    """The raw JSON of the PRs a merge may be read from: the closed ones not walked (of an older store: all)."""
    if not store.derived_stored:
        yield from store.stream("SELECT number, raw FROM items WHERE is_pull_request = 1 ORDER BY number")
        return
    if not _has_timeline(store):
        yield from store.stream("SELECT i.number, i.raw FROM derived d JOIN items i ON i.number = d.number "
                                "WHERE d.problem IS NULL AND d.pull_request = 1 AND d.closed_at IS NOT NULL")
        return
    numbers = [number for (number,) in store.execute(UNWALKED_PRS)]
    for first in range(0, len(numbers), BATCH):
        batch = numbers[first:first + BATCH]
        yield from store.execute(f"SELECT number, raw FROM items WHERE number IN ({', '.join('?' * len(batch))})",
                                 batch)


def _raw_merges(store, numbers: Sequence[str], table: numpy.ndarray) -> None:
    """Fill ``merged`` of the closed PRs the timeline has not walked from their raw JSON's ``pull_request.merged_at``."""
    found = []
    for number, raw in _unwalked_raws(store):
        try:
            merged_at = (json.loads(raw).get("pull_request") or {}).get("merged_at")
            found.append((number, timeutil.epoch(merged_at)))
        except (ValueError, TypeError, AttributeError):  # not merged, or not a timestamp: no merge
            continue
    if found and len(table):
        found_numbers, at = numpy.array(found, dtype=numpy.int64).T
        index = numpy.searchsorted(table[:, 0], found_numbers).clip(0, len(table) - 1)
        kept = table[index, 0] == found_numbers  # a malformed item has no row
        table[index[kept], numbers.index("merged")] = at[kept]


def _events(store, prefixes: Sequence[str]) -> Tuple[numpy.ndarray, Tuple[str, ...]]:
    """The label events (``Columns.events``: number, at, label code << 3 | kind code << 1 | added) of the labels starting
    with one of ``prefixes``, in the order they happened on each item (a malformed item's too: the reader
    drops them), and the label names their codes index; filled ``BATCH * 100`` rows at a time."""
    names = tuple(sorted(name for (name,) in store.execute(EVENT_LABELS) if name.startswith(tuple(prefixes)))) \
        if _has_timeline(store) else ()
    if not names:
        return numpy.empty((0, 3), numpy.int64), ()
    marks = ", ".join("?" * len(names))
    ((count,),) = store.execute(EVENT_COUNT.format(marks), names)
    sql = EVENTS.format(" ".join(f"WHEN ? THEN {code}" for code in range(len(names))), marks)
    events = _filled(store.stream(sql, names + names), count, 3)
    if len(events) > 1 and not (events[1:, 0] > events[:-1, 0]).all():  # stored out of order: sort (a copy)
        events = events[numpy.argsort(events[:, 0], kind="stable")]
    events[:, 0] >>= 16  # number * 65536 + seq -> number
    return events, names


def timelines(store) -> int:
    return store.execute("SELECT COUNT(*) FROM timeline")[0][0] if _has_timeline(store) else 0


def read(store, numbers: Sequence[str] = tuple(NUMBERS), texts: Sequence[str] = tuple(TEXTS),
         labels: Optional[Sequence[str]] = ("",), counts: bool = False,
         events: Optional[Sequence[str]] = None) -> Columns:
    """The named columns of a current store, the labels whose names start with one of ``labels`` (None: no
    labels), with ``counts`` the uses per label name, the label events of the labels starting with one of
    ``events`` (None: none); of an older store, the same derived in memory (it is read-only here)."""
    numbers, texts = tuple(numbers), tuple(texts)
    wanted = tuple(labels) if labels is not None else None
    timeline = {"timelines": timelines(store)}
    if events is not None:
        timeline["events"], timeline["event_names"] = _events(store, events)
    if store.derived_stored:
        problems = [problem for _, problem in store.execute(PROBLEMS)]
        ((count,),) = store.execute(WELL_FORMED_COUNT)
        table = _filled(store.stream(_select(store, numbers, NUMBERS)), count, len(numbers))
        if "merged" in numbers:
            _raw_merges(store, numbers, table)
        columns = _text_columns(store.stream(_select(store, texts, TEXTS)), count, len(texts)) if texts else ()
        labelled = {name: _numbers(store.execute(LABELLED, (name,)))
                    for (name,) in store.execute(NAMES) if name.startswith(wanted)} if wanted is not None else None
        return Columns(numbers, texts, table, columns, labelled, problems, dict(store.execute(COUNTS)) if counts else None,
                       **timeline)
    log.warning("store %s predates derived columns: deriving every item now; open it for writing once "
                "(k8s-analysis export --update) to store them", store.name)
    closers = store.closers()
    number_rows, text_rows, problems = [], [], []
    uses: Dict[str, List[int]] = {}
    used: Dict[str, List[int]] = collections.defaultdict(list)
    for row, names in _stored(store.stream("SELECT number, raw FROM items ORDER BY number")):
        if row.problem:
            problems.append(row.problem)
            continue
        values = {"number": row.number, "pull_request": row.pull_request, "created": row.created_at,
                  "is_closed": int(row.closed_at is not None), "closed": row.closed_at or 0,
                  "noted": int(row.release_note is not None), "action_required": row.action_required,
                  "author": row.author, "closed_by": row.closed_by if row.closed_by is not None
                  else closers.get(row.number), **{name: 0 for name in TIMELINE}}
        number_rows.append(tuple(values[name] for name in numbers))
        text_rows.append(tuple(values[name] for name in texts))
        for name in names:
            used[name].append(row.number)
            if wanted is not None and name.startswith(wanted):
                uses.setdefault(name, []).append(row.number)
    labelled = {name: numpy.array(uses[name], dtype=numpy.int64) for name in sorted(uses)}
    table = _table(numbers, number_rows)
    if "merged" in numbers:
        _raw_merges(store, numbers, table)
    return Columns(numbers, texts, table, _texts(texts, text_rows),
                   labelled if wanted is not None else None, problems,
                   {name: len(uses) for name, uses in used.items()} if counts else None, **timeline)

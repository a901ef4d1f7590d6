"""The store's derived columns: each item's ``derived`` row and ``labels``, kept with its raw JSON.

``write`` runs inside the transaction that upserts a page of items and derives the items that
won the upsert, so the columns always describe the stored JSON. ``migrate`` fills them once for
a store written before they existed; ``read`` gives the analysis its columns in three queries,
or, from a store never opened for writing since, derives them in memory (the same numbers,
slower). Portable SQL only: ``?`` placeholders, plain INSERT/DELETE, LEFT JOIN, COALESCE, CASE.
"""
import itertools
import json
import logging
from typing import Dict, Iterable, List, NamedTuple, Tuple

from tqdm import tqdm

from ..derive import Derived, Malformed, derive, problem_row

VERSION = 1  # the state key "derived" holds it once the columns are complete; bump it to re-derive
BATCH = 1000
COLUMNS = Derived._fields
INSERT_ROW = f"INSERT INTO derived ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
INSERT_LABEL = "INSERT INTO labels (number, position, name) VALUES (?, ?, ?)"
# What a view reads of each well-formed item; who closed it falls back on the closers walk.
ITEMS = """
SELECT d.number, d.pull_request, d.created_at, d.closed_at, d.author, COALESCE(d.closed_by, c.login),
       CASE WHEN d.release_note IS NULL THEN 0 ELSE 1 END, d.action_required
FROM derived d LEFT JOIN closers c ON c.number = d.number
WHERE d.problem IS NULL ORDER BY d.number
"""
NAMES = "SELECT DISTINCT name FROM labels ORDER BY name"
LABELLED = "SELECT number FROM labels WHERE name = ? ORDER BY number"  # from the index labels_by_name
PROBLEMS = "SELECT number, problem FROM derived WHERE problem IS NOT NULL ORDER BY number"

log = logging.getLogger(__name__)


class Columns(NamedTuple):
    """What the views read: ``ITEMS`` rows, each label with the numbers of its uses, one message per malformed item."""

    items: List[tuple]
    labels: Dict[str, List[int]]
    problems: List[str]


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


def migrate(store) -> None:
    """Derive every stored item, in one transaction, with a progress bar; then mark the store current."""
    ((total,),) = store.execute("SELECT COUNT(*) FROM items")
    with store.transaction(), tqdm(total=total, unit="item", desc=f"deriving columns of {store.name}",
                                   disable=total == 0) as bar:
        store.execute("DELETE FROM derived")
        store.execute("DELETE FROM labels")
        rows = iter(store.stream("SELECT number, raw FROM items ORDER BY number"))
        while True:
            batch = list(itertools.islice(rows, BATCH))
            if not batch:
                break
            _insert(store, list(_stored(batch)))
            bar.update(len(batch))
        store._set("derived", VERSION)


def read(store) -> Columns:
    """The columns of a current store; of an older one, the same derived in memory (it is read-only here)."""
    if store.get("derived") == VERSION:
        problems = [problem for _, problem in store.execute(PROBLEMS)]
        labels = {name: [number for (number,) in store.execute(LABELLED, (name,))] for (name,) in store.execute(NAMES)}
        return Columns(store.execute(ITEMS), labels, problems)
    log.warning("store %s predates derived columns: deriving every item now; open it for writing once "
                "(k8s-analysis export --update) to store them", store.name)
    closers = store.closers()
    items, problems = [], []
    labels: Dict[str, List[int]] = {}
    for row, names in _stored(store.stream("SELECT number, raw FROM items ORDER BY number")):
        if row.problem:
            problems.append(row.problem)
            continue
        closed_by = row.closed_by if row.closed_by is not None else closers.get(row.number)
        items.append((row.number, row.pull_request, row.created_at, row.closed_at, row.author, closed_by,
                      int(row.release_note is not None), row.action_required))
        for name in names:
            labels.setdefault(name, []).append(row.number)
    return Columns(items, dict(sorted(labels.items())), problems)

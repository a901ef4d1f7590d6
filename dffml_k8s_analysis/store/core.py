"""The store's semantics, once for every backend: tables, upserts, sync state, checkpoints.

It keeps each issue or pull request as the raw JSON the API returned, keyed by
number, plus the sync state: the export plan and its per-window checkpoints,
the high-water ``updated_at`` of the last complete sync, and ETags; who
closed each item (from GraphQL, `github/closers.py`: the issues listing lacks it);
and the columns the analysis reads, derived from each item as it is written
(``derived.py``).

Every write is one transaction, so a crash at any moment leaves a consistent
store and a rerun resumes from the last committed page. The SQL is written
once, portable: ``?`` placeholders, the types INTEGER/BIGINT/TEXT/REAL/BLOB and
``INSERT ... ON CONFLICT`` upserts; a backend (``sqlite.py``, ``postgres.py``)
only connects, translates and runs it.

Adding a table: append its ``CREATE TABLE IF NOT EXISTS`` to :data:`SCHEMA`
(what an existing store must match follows from it) and write it with
:meth:`Store.execute`/:meth:`Store.executemany` inside :meth:`Store.transaction`,
e.g. in :meth:`Store.save_page`'s, so it commits with the page.
"""
import contextlib
import json
import sqlite3
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

from . import bot_state, derived, model_versions

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    number INTEGER PRIMARY KEY,
    updated_at TEXT NOT NULL,
    is_pull_request INTEGER NOT NULL,
    raw TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS windows (
    idx INTEGER PRIMARY KEY,
    start TEXT NOT NULL,
    "end" TEXT,
    checkpoint TEXT,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS closers (
    number INTEGER PRIMARY KEY,
    login TEXT,
    closed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS etags (
    url TEXT PRIMARY KEY,
    etag TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS derived (
    number INTEGER PRIMARY KEY,
    problem TEXT,
    pull_request INTEGER,
    state TEXT,
    created_at BIGINT,
    updated_at BIGINT,
    closed_at BIGINT,
    author TEXT,
    closed_by TEXT,
    release_note TEXT,
    action_required INTEGER
);
CREATE TABLE IF NOT EXISTS labels (
    number INTEGER NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (number, position)
);
CREATE INDEX IF NOT EXISTS labels_by_name ON labels (name, number);
""" + model_versions.SCHEMA + bot_state.SCHEMA

# Keep the newer copy when two windows (or a window and the final pass) store
# the same item: ISO 8601 UTC timestamps compare correctly as text.
UPSERT = """
INSERT INTO items (number, updated_at, is_pull_request, raw)
VALUES (?, ?, ?, ?)
ON CONFLICT(number) DO UPDATE SET
    updated_at = excluded.updated_at,
    is_pull_request = excluded.is_pull_request,
    raw = excluded.raw
WHERE excluded.updated_at >= items.updated_at
"""


class StoreError(Exception):
    """The store is missing, unreadable, in use, or not one of ours."""


class StoreMissing(StoreError):
    """The store (file, or repository schema) does not exist yet."""


def schema_tables() -> Dict[str, List[str]]:
    """Table name -> column names that :data:`SCHEMA` defines (parsed by an in-memory SQLite)."""
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    names = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name: [column for (column,) in db.execute("SELECT name FROM pragma_table_info(?)", (name,))]
            for name in names}


class Store(model_versions.ModelVersions, bot_state.BotTables):
    """A repository's items and sync state, over a backend's connection.

    ``create`` (the export): the schema is created if missing, and written.
    Otherwise the store must exist and the backend opened it read-only. Either
    way a database or file of another program is refused before anything is
    written to it.
    """

    def __init__(self, backend, create: bool):
        self.backend = backend
        self.name = backend.name
        self._writing = False
        try:
            tables = backend.tables()
            expected = schema_tables()
            if not tables and not create:  # new, or an export is creating it right now
                raise StoreMissing(f"store {self.name} is empty: run `k8s-analysis export` first")
            ours = all(expected.get(name) == columns for name, columns in tables.items())
            if tables and not (ours and ("items" in tables or create)):  # some of ours: an older bot state file
                raise StoreError(f"{self.name} is not a k8s-analysis store (its tables: "
                                 f"{', '.join(sorted(tables)) or 'none'}): choose another --store")
            if create:
                backend.script(SCHEMA)
                if self.get("derived") != derived.VERSION:
                    derived.migrate(self)
        except StoreError:
            backend.close()
            raise
        except backend.Error as error:
            backend.close()
            raise StoreError(f"store {self.name} is not a usable {backend.kind}: {backend.describe(error)}") from None

    def close(self):
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Portable SQL for the tables a helper adds to SCHEMA

    @contextlib.contextmanager
    def transaction(self):
        """One transaction (SQLite: BEGIN IMMEDIATE); the backend's errors (a full disk) as one StoreError."""
        try:
            with self.backend.transaction():
                self._writing = True
                yield self
        except self.backend.Error as error:
            raise StoreError(f"cannot write the store {self.name}: {self.backend.describe(error)}") from None
        finally:
            self._writing = False

    def execute(self, sql: str, args: tuple = ()) -> list:
        """Run one portable statement (``?`` placeholders); its rows, if any.

        Outside a transaction a failure means a damaged store (StoreError); inside,
        :meth:`transaction` reports it as a failed write.
        """
        try:
            return self.backend.execute(sql, tuple(args))
        except self.backend.Error as error:
            if self._writing:
                raise
            raise self._damaged(error) from None

    def executemany(self, sql: str, rows: Iterable[tuple]) -> None:
        """Run one portable statement for each of ``rows``."""
        self.backend.executemany(sql, [tuple(row) for row in rows])

    def _damaged(self, error) -> StoreError:
        return StoreError(f"store {self.name} is damaged ({self.backend.describe(error)}): "
                          "export again into a new store")

    # Items

    def save_page(
        self,
        items: Iterable[dict],
        window: Optional[int] = None,
        checkpoint: Optional[str] = None,
        high_water: Optional[str] = None,
        resume: Optional[str] = None,
    ) -> int:
        """Upsert a page of items and advance a window or the high-water mark, atomically.

        ``checkpoint`` and ``resume`` (the link to continue from) are where a
        rerun of ``window`` (None: the final pass) continues. Rows go in number
        order, so concurrent writers (an Indexed Job's pods) never deadlock.
        """
        items = sorted(items, key=lambda item: item["number"])
        rows = [
            (item["number"], item["updated_at"], int("pull_request" in item), json.dumps(item, ensure_ascii=False))
            for item in items
        ]
        with self.transaction():
            self.executemany(UPSERT, rows)
            derived.write(self, items)
            if window is not None and checkpoint is not None:
                self.execute("UPDATE windows SET checkpoint = ? WHERE idx = ?", (checkpoint, window))
            if checkpoint is not None:
                self._set(_resume_key(window), {"checkpoint": checkpoint, "url": resume})
            if high_water is not None:
                self._set("high_water", high_water)
        return len(rows)

    def count(self) -> Dict[str, int]:
        """Items stored, split into issues and pull requests."""
        ((total, prs),) = self.execute("SELECT COUNT(*), COALESCE(SUM(is_pull_request), 0) FROM items")
        return {"items": int(total), "issues": int(total - prs), "pull_requests": int(prs)}

    def max_updated_at(self) -> Optional[str]:
        return self.execute("SELECT MAX(updated_at) FROM items")[0][0]

    def raw_items(self, problems: Optional[List[str]] = None) -> Iterator[dict]:
        """Every stored item as the API returned it, by number (streamed, not all in memory).

        An item whose JSON is invalid is a StoreError, or, given ``problems``, a
        message there and skipped. A damaged store is a StoreError.
        """
        try:
            for number, raw in self.backend.stream("SELECT number, raw FROM items ORDER BY number"):
                try:
                    yield json.loads(raw)
                except ValueError:
                    if problems is None:
                        raise StoreError(f"store {self.name}: item #{number} is not valid JSON") from None
                    problems.append(f"#{number}: its stored JSON is invalid")
        except self.backend.Error as error:
            raise self._damaged(error) from None

    def derived_columns(self, numbers: Sequence[str] = tuple(derived.NUMBERS),
                        texts: Sequence[str] = tuple(derived.TEXTS),
                        labels: Optional[Sequence[str]] = ("",), counts: bool = False) -> derived.Columns:
        """The named columns the analysis views read of every item, the labels whose names start with one of
        ``labels``, the uses per label with ``counts`` (``derived.py``); a damaged store is a StoreError."""
        try:
            return derived.read(self, numbers, texts, labels, counts)
        except self.backend.Error as error:
            raise self._damaged(error) from None

    def stream(self, sql: str) -> Iterator[tuple]:
        """The rows of a portable query, fetched as they are read."""
        return self.backend.stream(sql)

    def versions(self) -> Dict[int, str]:
        """number -> updated_at for every stored item."""
        return dict(self.execute("SELECT number, updated_at FROM items"))

    def save_closers(self, rows: Iterable[tuple], progress: dict) -> None:
        """Upsert (number, login, closed_at) rows, the latest close winning, with the walk's progress."""
        with self.transaction():
            self.executemany(
                "INSERT INTO closers (number, login, closed_at) VALUES (?, ?, ?) "
                "ON CONFLICT(number) DO UPDATE SET login = excluded.login, closed_at = excluded.closed_at "
                "WHERE excluded.closed_at >= closers.closed_at",
                sorted(rows),
            )
            self._set("closers_progress", progress)

    def finish_closers(self, since: str) -> None:
        """Record a finished closers walk; the next one starts from ``since``."""
        with self.transaction():
            self._set("closers", {"since": since})
            self.execute("DELETE FROM state WHERE key = 'closers_progress'")

    def closers(self) -> Dict[int, Optional[str]]:
        """number -> login of who last closed it (None for deleted users)."""
        return dict(self.execute("SELECT number, login FROM closers"))

    # Sync state

    def get(self, key: str, default=None):
        rows = self.execute("SELECT value FROM state WHERE key = ?", (key,))
        try:
            return json.loads(rows[0][0]) if rows else default
        except ValueError:
            raise self._damaged_state(key) from None

    def _damaged_state(self, key: str) -> StoreError:
        command = self.backend.shell(f"DELETE FROM state WHERE key = '{key}'")
        return StoreError(f"store {self.name}: its sync state {key!r} is damaged; remove it with {command} and rerun")

    def set(self, key: str, value) -> None:
        with self.transaction():
            self._set(key, value)

    def _set(self, key: str, value) -> None:
        self.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def resume(self, window: Optional[int] = None) -> dict:
        """Where a rerun of ``window`` (None: the final pass) continues: checkpoint and link, or {}."""
        return self.get(_resume_key(window), {})

    def etag(self, url: str) -> Optional[str]:
        rows = self.execute("SELECT etag FROM etags WHERE url = ?", (url,))
        return rows[0][0] if rows else None

    def set_etag(self, url: str, etag: Optional[str]) -> None:
        """Remember the ETag of ``url`` (None: forget it)."""
        with self.transaction():
            if etag is None:
                self.execute("DELETE FROM etags WHERE url = ?", (url,))
                return
            self.execute(
                "INSERT INTO etags (url, etag) VALUES (?, ?) "
                "ON CONFLICT(url) DO UPDATE SET etag = excluded.etag",
                (url, etag),
            )

    # Export plan: time windows and their checkpoints

    def start_plan(self, plan: dict, windows: List[dict]) -> None:
        """Replace any previous plan with a new one."""
        with self.transaction():
            self.execute("DELETE FROM windows")
            self.execute("DELETE FROM state WHERE key LIKE 'resume/%'")
            self._add_windows(windows)
            self._set("plan", plan)

    def join_plan(self, plan: dict, windows: List[dict]) -> None:
        """Start ``plan`` unless the store already has it: how the pods of one export share a database.

        Every pod passes the same plan and windows; the first one in writes them,
        the others (and a pod's rerun) find them with their checkpoints intact.
        A different unfinished plan is a StoreError.
        """
        with self.transaction():
            current = self.get("plan")
            if current is not None and current != plan:
                raise StoreError(f"store {self.name} holds another unfinished export ({current}): "
                                 "finish it with `k8s-analysis export` first")
            self._add_windows(windows, " ON CONFLICT(idx) DO NOTHING")
            self._set("plan", plan)

    def _add_windows(self, windows: List[dict], conflict: str = "") -> None:
        self.executemany('INSERT INTO windows (idx, start, "end") VALUES (?, ?, ?)' + conflict,
                         [(w["idx"], w["start"], w["end"]) for w in windows])

    def plan(self) -> Optional[dict]:
        """The export plan in progress, if an export has not finished."""
        plan = self.get("plan")
        if plan is not None and not (isinstance(plan, dict) and isinstance(plan.get("started_at"), str)):
            raise self._damaged_state("plan")
        return plan

    def windows(self) -> List[dict]:
        """The plan's windows with their checkpoints and done flags."""
        cursor = self.execute('SELECT idx, start, "end", checkpoint, done FROM windows ORDER BY idx')
        return [
            {"idx": idx, "start": start, "end": end, "checkpoint": checkpoint, "done": bool(done)}
            for idx, start, end, checkpoint, done in cursor
        ]

    def finish_window(self, idx: int) -> None:
        with self.transaction():
            self.execute("UPDATE windows SET done = 1 WHERE idx = ?", (idx,))

    def finish_plan(self, high_water: Optional[str]) -> None:
        """Mark the export complete: drop the plan, keep the high-water mark."""
        with self.transaction():
            self.execute("DELETE FROM windows")
            self.execute("DELETE FROM state WHERE key = 'plan' OR key LIKE 'resume/%'")
            if high_water is not None:
                self._set("high_water", high_water)


def _resume_key(window: Optional[int]) -> str:
    return "resume/final" if window is None else f"resume/{window}"

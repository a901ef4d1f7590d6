"""The embedded store: one SQLite file per repository.

It keeps each issue or pull request as the raw JSON the API returned, keyed by
number, plus the sync state: the export plan and its per-window checkpoints,
the high-water ``updated_at`` of the last complete sync, and ETags; and who
closed each item (from the issue events listing, which the issues listing lacks).

Every write is one transaction (WAL journal), so a crash at any moment leaves
a consistent store and a rerun resumes from the last committed page.
"""
import contextlib
import json
import os
import pathlib
import sqlite3
from typing import Dict, Iterable, Iterator, List, Optional

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
    end TEXT,
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
CREATE TABLE IF NOT EXISTS model_versions (
    stamp TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    data_version TEXT NOT NULL,
    status TEXT NOT NULL,
    archive BLOB NOT NULL,
    canary_share REAL,
    canary_until TEXT,
    decision TEXT
);
CREATE TABLE IF NOT EXISTS canary_observations (
    id TEXT PRIMARY KEY,
    canary TEXT NOT NULL,
    serving TEXT NOT NULL,
    observed_at TEXT NOT NULL,
    answered_by TEXT NOT NULL,
    serving_probability REAL NOT NULL,
    canary_probability REAL,
    agree INTEGER,
    serving_ms REAL NOT NULL,
    canary_ms REAL,
    error TEXT
);
"""

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
    """The store file is missing, unreadable or not one of ours."""


def default_path(repo: str) -> pathlib.Path:
    """``data/OWNER__NAME.sqlite`` for ``OWNER/NAME``."""
    return pathlib.Path("data", repo.replace("/", "__") + ".sqlite")


def _tables(db) -> Dict[str, List[str]]:
    """Table name -> column names of a database (SQLite's own tables left out)."""
    names = [name for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {name: [column for (column,) in db.execute("SELECT name FROM pragma_table_info(?)", (name,))]
            for name in names}


def _schema_tables() -> Dict[str, List[str]]:
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    return _tables(db)


TABLES = _schema_tables()


def unwritable(directory: pathlib.Path, reason: str) -> StoreError:
    """The error for a store whose directory cannot be written (the store, its journal, its lock live there)."""
    return StoreError(f"cannot write in {directory}, the store's directory: {reason}")


class Store:
    """A repository's items and sync state in one SQLite file.

    ``create`` (the export): created if missing, written. Otherwise (analyze,
    train, merge's shards) it must exist and is opened read-only, so a store on a
    read-only disk or directory can still be read. Either way a file of another
    program is refused before anything is written to it.
    """

    def __init__(self, path, create: bool = True):
        self.path = pathlib.Path(path)
        if not create and not self.path.is_file():
            raise StoreError(f"store {self.path} does not exist: run `k8s-analysis export` first")
        directory = self.path.parent
        if create:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise unwritable(directory, error.strerror) from None
            if not os.access(directory, os.W_OK):
                raise unwritable(directory, "not writable")
            if self.path.exists() and not os.access(self.path, os.W_OK):
                raise StoreError(f"store {self.path} is read-only: the export needs to write it")
        try:
            self.db = self._connect(create)
            tables = _tables(self.db)
            if (tables or not create) and not ("items" in tables and all(
                    TABLES.get(name) == columns for name, columns in tables.items())):
                self.db.close()
                raise StoreError(f"{self.path} is not a k8s-analysis store (its tables: "
                                 f"{', '.join(sorted(tables)) or 'none'}): choose another --store")
            if create:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"store {self.path} is not a usable SQLite file: {error}") from None

    def _connect(self, create: bool) -> sqlite3.Connection:
        if create:
            return sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        uri = self.path.resolve().as_uri()
        db = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=60, isolation_level=None)
        try:
            db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.OperationalError:
            if os.access(self.path.parent, os.W_OK):
                raise
            db.close()  # a WAL store in a read-only directory, where no -shm can be made: nobody writes it
            db = sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, isolation_level=None)
        return db

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _transaction(self):
        return _Transaction(self)

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
        rerun of ``window`` (None: the final pass) continues.
        """
        rows = [
            (item["number"], item["updated_at"], int("pull_request" in item), json.dumps(item, ensure_ascii=False))
            for item in items
        ]
        with self._transaction():
            self.db.executemany(UPSERT, rows)
            if window is not None and checkpoint is not None:
                self.db.execute("UPDATE windows SET checkpoint = ? WHERE idx = ?", (checkpoint, window))
            if checkpoint is not None:
                self._set(_resume_key(window), {"checkpoint": checkpoint, "url": resume})
            if high_water is not None:
                self._set("high_water", high_water)
        return len(rows)

    def count(self) -> Dict[str, int]:
        """Items stored, split into issues and pull requests."""
        ((total, prs),) = self._rows("SELECT COUNT(*), COALESCE(SUM(is_pull_request), 0) FROM items")
        return {"items": total, "issues": total - prs, "pull_requests": prs}

    def max_updated_at(self) -> Optional[str]:
        return self._rows("SELECT MAX(updated_at) FROM items")[0][0]

    def raw_items(self, problems: Optional[List[str]] = None) -> Iterator[dict]:
        """Every stored item as the API returned it, by number.

        An item whose JSON is invalid is a StoreError, or, given ``problems``, a
        message there and skipped. A damaged file is a StoreError.
        """
        try:
            for number, raw in self.db.execute("SELECT number, raw FROM items ORDER BY number"):
                try:
                    yield json.loads(raw)
                except ValueError:
                    if problems is None:
                        raise StoreError(f"store {self.path}: item #{number} is not valid JSON") from None
                    problems.append(f"#{number}: its stored JSON is invalid")
        except sqlite3.DatabaseError as error:
            raise self._damaged(error) from None

    def _rows(self, sql: str, args: tuple = ()) -> list:
        """All rows of a query; a damaged file is a StoreError."""
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as error:
            raise self._damaged(error) from None

    def _damaged(self, error: sqlite3.DatabaseError) -> StoreError:
        return StoreError(f"store {self.path} is damaged ({error}): export again into a new store")

    def versions(self) -> Dict[int, str]:
        """number -> updated_at for every stored item."""
        return dict(self._rows("SELECT number, updated_at FROM items"))

    def save_closers(self, rows: Iterable[tuple], progress: dict) -> None:
        """Upsert (number, login, closed_at) rows, the latest close winning, with the walk's progress."""
        with self._transaction():
            self.db.executemany(
                "INSERT INTO closers (number, login, closed_at) VALUES (?, ?, ?) "
                "ON CONFLICT(number) DO UPDATE SET login = excluded.login, closed_at = excluded.closed_at "
                "WHERE excluded.closed_at >= closers.closed_at",
                list(rows),
            )
            self._set("closers_progress", progress)

    def finish_closers(self, since: str) -> None:
        """Record a finished closers walk; the next one starts from ``since``."""
        with self._transaction():
            self._set("closers", {"since": since})
            self.db.execute("DELETE FROM state WHERE key = 'closers_progress'")

    def closers(self) -> Dict[int, Optional[str]]:
        """number -> login of who last closed it (None for deleted users)."""
        return dict(self._rows("SELECT number, login FROM closers"))

    # Sync state

    def get(self, key: str, default=None):
        rows = self._rows("SELECT value FROM state WHERE key = ?", (key,))
        try:
            return json.loads(rows[0][0]) if rows else default
        except ValueError:
            raise self._damaged_state(key) from None

    def _damaged_state(self, key: str) -> StoreError:
        return StoreError(f"store {self.path}: its sync state {key!r} is damaged; remove it with "
                          f"sqlite3 {self.path} \"DELETE FROM state WHERE key = '{key}'\" and rerun")

    def set(self, key: str, value) -> None:
        with self._transaction():
            self._set(key, value)

    def _set(self, key: str, value) -> None:
        self.db.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def resume(self, window: Optional[int] = None) -> dict:
        """Where a rerun of ``window`` (None: the final pass) continues: checkpoint and link, or {}."""
        return self.get(_resume_key(window), {})

    def etag(self, url: str) -> Optional[str]:
        rows = self._rows("SELECT etag FROM etags WHERE url = ?", (url,))
        return rows[0][0] if rows else None

    def set_etag(self, url: str, etag: Optional[str]) -> None:
        """Remember the ETag of ``url`` (None: forget it)."""
        with self._transaction():
            if etag is None:
                self.db.execute("DELETE FROM etags WHERE url = ?", (url,))
                return
            self.db.execute(
                "INSERT INTO etags (url, etag) VALUES (?, ?) "
                "ON CONFLICT(url) DO UPDATE SET etag = excluded.etag",
                (url, etag),
            )

    # Export plan: time windows and their checkpoints

    def start_plan(self, plan: dict, windows: List[dict]) -> None:
        """Replace any previous plan with a new one."""
        with self._transaction():
            self.db.execute("DELETE FROM windows")
            self.db.execute("DELETE FROM state WHERE key LIKE 'resume/%'")
            self.db.executemany(
                "INSERT INTO windows (idx, start, end) VALUES (?, ?, ?)",
                [(w["idx"], w["start"], w["end"]) for w in windows],
            )
            self._set("plan", plan)

    def plan(self) -> Optional[dict]:
        """The export plan in progress, if an export has not finished."""
        plan = self.get("plan")
        if plan is not None and not (isinstance(plan, dict) and isinstance(plan.get("started_at"), str)):
            raise self._damaged_state("plan")
        return plan

    def windows(self) -> List[dict]:
        """The plan's windows with their checkpoints and done flags."""
        cursor = self._rows("SELECT idx, start, end, checkpoint, done FROM windows ORDER BY idx")
        return [
            {"idx": idx, "start": start, "end": end, "checkpoint": checkpoint, "done": bool(done)}
            for idx, start, end, checkpoint, done in cursor
        ]

    def finish_window(self, idx: int) -> None:
        with self._transaction():
            self.db.execute("UPDATE windows SET done = 1 WHERE idx = ?", (idx,))

    def finish_plan(self, high_water: Optional[str]) -> None:
        """Mark the export complete: drop the plan, keep the high-water mark."""
        with self._transaction():
            self.db.execute("DELETE FROM windows")
            self.db.execute("DELETE FROM state WHERE key = 'plan' OR key LIKE 'resume/%'")
            if high_water is not None:
                self._set("high_water", high_water)

    # Model versions (dffml_k8s_analysis.model.registry): the trained models, their rollout, the canary's record

    def add_model_version(self, stamp: str, created: str, data_version: dict, archive: bytes) -> None:
        """Store a trained candidate: its files as one archive."""
        with self._transaction():
            self.db.execute(
                "INSERT INTO model_versions (stamp, created, data_version, status, archive) VALUES (?, ?, ?, ?, ?)",
                (stamp, created, json.dumps(data_version), "candidate", archive),
            )

    def model_versions(self, statuses: Iterable[str] = ()) -> List[dict]:
        """Every model version (or those of ``statuses``) by stamp, without its archive."""
        statuses = list(statuses)
        where = f" WHERE status IN ({', '.join('?' * len(statuses))})" if statuses else ""
        rows = self._rows("SELECT stamp, created, data_version, status, canary_share, canary_until, decision "
                          "FROM model_versions" + where + " ORDER BY stamp", tuple(statuses))
        return [{"stamp": stamp, "created": created, "data_version": json.loads(version), "status": status,
                 "canary_share": share, "canary_until": until, "decision": json.loads(decision) if decision else None}
                for stamp, created, version, status, share, until, decision in rows]

    def model_archive(self, stamp: str) -> Optional[bytes]:
        rows = self._rows("SELECT archive FROM model_versions WHERE stamp = ?", (stamp,))
        return bytes(rows[0][0]) if rows else None

    def set_model_versions(self, changes: Iterable[dict], forget: Iterable[str] = ()) -> None:
        """Apply status/canary changes (dicts as :meth:`model_versions` gives) and drop ``forget``, atomically."""
        with self._transaction():
            self.db.executemany(
                "UPDATE model_versions SET status = ?, canary_share = ?, canary_until = ?, decision = ? WHERE stamp = ?",
                [(change["status"], change["canary_share"], change["canary_until"],
                  json.dumps(change["decision"]) if change["decision"] is not None else None, change["stamp"])
                 for change in changes],
            )
            for stamp in forget:
                self.db.execute("DELETE FROM canary_observations WHERE canary = ?", (stamp,))
                self.db.execute("DELETE FROM model_versions WHERE stamp = ?", (stamp,))

    def save_observations(self, rows: Iterable[tuple]) -> None:
        """Record side-by-side answers: (id, canary, serving, observed_at, answered_by, serving_probability,
        canary_probability, agree, serving_ms, canary_ms, error) rows."""
        with self._transaction():
            self.db.executemany(
                "INSERT INTO canary_observations (id, canary, serving, observed_at, answered_by, serving_probability, "
                "canary_probability, agree, serving_ms, canary_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                list(rows),
            )

    def observations(self, canary: str) -> List[dict]:
        """A canary's observations, each a dict of the columns :meth:`save_observations` wrote, but ``id``."""
        columns = ("canary", "serving", "observed_at", "answered_by", "serving_probability", "canary_probability",
                   "agree", "serving_ms", "canary_ms", "error")
        rows = self._rows(f"SELECT {', '.join(columns)} FROM canary_observations WHERE canary = ? ORDER BY id",
                          (canary,))
        return [dict(zip(columns, row)) for row in rows]


def _resume_key(window: Optional[int]) -> str:
    return "resume/final" if window is None else f"resume/{window}"


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error; SQLite's errors (a full disk) as one StoreError."""

    def __init__(self, store: Store):
        self.store = store

    def __enter__(self):
        self._run("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, error, _traceback):
        if exc_type is None:
            self._run("COMMIT")
            return
        with contextlib.suppress(sqlite3.Error):
            self.store.db.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            raise self._failed(error) from None

    def _run(self, sql: str) -> None:
        try:
            self.store.db.execute(sql)
        except sqlite3.Error as error:
            raise self._failed(error) from None

    def _failed(self, error: sqlite3.Error) -> StoreError:
        return StoreError(f"cannot write the store {self.store.path}: {error}")

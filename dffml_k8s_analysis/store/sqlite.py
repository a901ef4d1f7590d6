"""The embedded store: one SQLite file per repository.

It keeps each issue or pull request as the raw JSON the API returned, keyed by
number, plus the sync state: the export plan and its per-window checkpoints,
the high-water ``updated_at`` of the last complete sync, and ETags; and who
closed each item (from the issue events listing, which the issues listing lacks).

Every write is one transaction (WAL journal), so a crash at any moment leaves
a consistent store and a rerun resumes from the last committed page.
"""
import json
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


class Store:
    """A repository's items and sync state in one SQLite file."""

    def __init__(self, path, create: bool = True):
        self.path = pathlib.Path(path)
        if not create and not self.path.is_file():
            raise StoreError(f"store {self.path} does not exist: run `k8s-analysis export` first")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"store {self.path} is not a usable SQLite file: {error}") from error

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _transaction(self):
        return _Transaction(self.db)

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
        total, prs = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(is_pull_request), 0) FROM items"
        ).fetchone()
        return {"items": total, "issues": total - prs, "pull_requests": prs}

    def max_updated_at(self) -> Optional[str]:
        return self.db.execute("SELECT MAX(updated_at) FROM items").fetchone()[0]

    def raw_items(self) -> Iterator[dict]:
        """Every stored item as the API returned it, by number."""
        for (raw,) in self.db.execute("SELECT raw FROM items ORDER BY number"):
            yield json.loads(raw)

    def versions(self) -> Dict[int, str]:
        """number -> updated_at for every stored item."""
        return dict(self.db.execute("SELECT number, updated_at FROM items"))

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
        return dict(self.db.execute("SELECT number, login FROM closers"))

    # Sync state

    def get(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

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
        row = self.db.execute("SELECT etag FROM etags WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

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
        return self.get("plan")

    def windows(self) -> List[dict]:
        """The plan's windows with their checkpoints and done flags."""
        cursor = self.db.execute("SELECT idx, start, end, checkpoint, done FROM windows ORDER BY idx")
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


def _resume_key(window: Optional[int]) -> str:
    return "resume/final" if window is None else f"resume/{window}"


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error."""

    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *exc):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")

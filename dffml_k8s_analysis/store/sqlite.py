"""The embedded backend: one SQLite file per repository (WAL journal), the default.

Read-only (``create=False``) opens the file with ``mode=ro``, so a store on a
read-only disk or directory can still be read; the export's lock is an OS lock
on a file beside it (``lock.py``).
"""
import contextlib
import os
import pathlib
import sqlite3
from typing import Dict, Iterator, List

from .core import StoreError, StoreMissing


def unwritable(directory: pathlib.Path, reason: str) -> StoreError:
    """The error for a store whose directory cannot be written (the store, its journal, its lock live there)."""
    return StoreError(f"cannot write in {directory}, the store's directory: {reason}")


class SQLiteBackend:
    """A connection to the SQLite file at ``path``, checked and opened as ``create`` asks."""

    Error = sqlite3.Error
    kind = "SQLite file"

    @staticmethod
    def lost(error) -> bool:
        """A file is never unreachable for a while."""
        return False

    def __init__(self, path, create: bool):
        self.path = pathlib.Path(path)
        self.name = str(self.path)
        if not create and not self.path.is_file():
            raise StoreMissing(f"store {self.path} does not exist: run `k8s-analysis export` first")
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
            if create:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
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

    def tables(self) -> Dict[str, List[str]]:
        """Table name -> column names (SQLite's own tables left out)."""
        names = [name for (name,) in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {name: [column for (column,) in self.db.execute("SELECT name FROM pragma_table_info(?)", (name,))]
                for name in names}

    def script(self, sql: str) -> None:
        self.db.executescript(sql)

    def execute(self, sql: str, args: tuple) -> list:
        return self.db.execute(sql, args).fetchall()

    def executemany(self, sql: str, rows: List[tuple]) -> None:
        self.db.executemany(sql, rows)

    def stream(self, sql: str) -> Iterator[tuple]:
        return self.db.execute(sql)

    @contextlib.contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def describe(self, error: sqlite3.Error) -> str:
        return str(error)

    def shell(self, sql: str) -> str:
        """The command that runs ``sql`` on this store by hand."""
        return f'sqlite3 {self.path} "{sql}"'

    def close(self) -> None:
        self.db.close()

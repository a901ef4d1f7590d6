"""The embedded backend: one SQLite file per repository (WAL journal), the default.

Read-only (``create=False``) opens the file with ``mode=ro``, so a store on a
read-only disk or directory can still be read. A transaction is BEGIN IMMEDIATE,
so writers (and schema changes) take turns. The export's lock is an OS lock on
a file beside the store (:class:`StoreLock`): the kernel drops it when its
process ends, however it ends, so a killed export never leaves a store locked;
the file records the holder's process id for the message a second export gets.
"""
import contextlib
import fcntl
import os
import pathlib
import sqlite3
from typing import Dict, Iterator, List, Sequence

from .backend import command_line, statements
from .errors import StoreError, StoreMissing


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

    def lock_schema(self) -> None:
        """Nothing more to do: the transaction's BEGIN IMMEDIATE already excludes every other writer."""

    def script(self, ddl: str) -> None:
        for statement in statements(ddl):  # not executescript: it would commit the transaction first
            self.db.execute(statement)

    def execute(self, sql: str, args: tuple) -> list:
        return self.db.execute(sql, args).fetchall()

    def executemany(self, sql: str, rows: Sequence[tuple]) -> None:
        if rows:
            self.db.executemany(sql, rows)

    def stream(self, sql: str, args: tuple = ()) -> Iterator[tuple]:
        return self.db.execute(sql, args)

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
        return command_line("sqlite3", str(self.path), sql)

    def close(self) -> None:
        self.db.close()


class StoreLock:
    """The exclusive lock of the store at ``path`` (the file ``STORE.lock`` beside it), taken at once or refused."""

    def __init__(self, path):
        self.store = pathlib.Path(path)
        self.path = self.store.with_name(self.store.name + ".lock")
        self.fd = None

    def acquire(self) -> "StoreLock":
        """Take the lock; StoreError naming the holder when another process has it."""
        try:
            self.store.parent.mkdir(parents=True, exist_ok=True)
            while self.fd is None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise StoreError(f"store {self.store} is in use by another export (process {holder}): "
                                     "wait for it to finish, or stop it") from None
                if os.path.exists(self.path) and os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    self.fd = fd
                else:  # released and removed by its holder meanwhile: take the new file
                    os.close(fd)
            os.ftruncate(self.fd, 0)
            os.write(self.fd, str(os.getpid()).encode())
        except OSError as error:
            raise unwritable(self.store.parent, error.strerror) from None
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.unlink(self.path)
            os.close(self.fd)
            self.fd = None


def export_lock(spec: str, repo: str, shared: bool = False) -> StoreLock:
    """The export's lock on the store file ``spec`` (one file holds one repository; never shared)."""
    return StoreLock(spec)

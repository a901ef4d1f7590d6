"""The store's semantics, once for every backend: items, upserts, and the parts over one connection.

It keeps each issue or pull request as the raw JSON the API returned, keyed by
number; who closed each item (from GraphQL, ``github/closers.py``: the issues
listing lacks it); and the columns the analysis reads, derived from each item as it is
written (``derived.py``). Over the same connection: the export's sync state
(``store.sync``, ``sync.py``), the model registry (``store.models``,
``model_versions.py``) and the bot's memory (``store.bot``, ``bot_state.py``).

Every write is one transaction, so a crash at any moment leaves a consistent
store and a rerun resumes from the last committed page. The SQL is written
once, portable (``backend.py``); a backend (``sqlite.py``, ``postgres.py``)
only connects, translates and runs it. The schema has a version and ordered
migrations (``migrations.py``): a new column or table is one migration.
"""
import contextlib
import json
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

from . import derived, migrations, snapshot
from .backend import Backend
from .bot_state import BotMemory
from .errors import StoreError, StoreMissing
from .model_versions import ModelVersions
from .sync import SyncState, resume_key

__all__ = ["Store", "StoreError", "StoreMissing"]

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


class Store:
    """A repository's items, over a backend's connection, with ``sync``, ``models`` and ``bot`` over the same.

    ``create`` (a writer): the schema is created if missing, or migrated to the
    current version, and written. Otherwise the store must exist and the backend
    opened it read-only. Either way a database or file of another program, or
    a store of a newer k8s-analysis, is refused before anything is written to it.
    """

    def __init__(self, backend: Backend, create: bool):
        self.backend = backend
        self.name = backend.name
        self._writing = False
        self.sync = SyncState(self)
        self.models = ModelVersions(self)
        self.bot = BotMemory(self)
        try:
            tables = backend.tables()
            if not tables and not create:  # new, or an export is creating it right now
                raise StoreMissing(f"store {self.name} is empty: run `k8s-analysis export` first")
            version = migrations.version(self, tables)
            if version is None or not (create or "items" in tables):  # no items: an older bot state file
                raise StoreError(f"{self.name} is not a k8s-analysis store (its tables: "
                                 f"{', '.join(sorted(tables)) or 'none'}): choose another --store")
            migrations.check(self, version, create)
            if create:
                version = migrations.upgrade(self, version, quiet=not tables)
            self.version = version
        except StoreError:
            backend.close()
            raise
        except backend.Error as error:
            backend.close()
            if backend.lost(error):
                raise self._lost(error) from None
            raise StoreError(f"store {self.name} is not a usable {backend.kind}: {backend.describe(error)}") from None

    @property
    def derived_stored(self) -> bool:
        """Whether the derived columns are stored (else a reader derives them in memory)."""
        return self.version >= migrations.DERIVED_AT

    def close(self):
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def transaction(self):
        """One transaction (SQLite: BEGIN IMMEDIATE); the backend's errors (a full disk) as one StoreError."""
        try:
            with self.backend.transaction():
                self._writing = True
                yield self
        except self.backend.Error as error:
            if self.backend.lost(error):
                raise self._lost(error) from None
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
        """Run one portable statement for each of ``rows`` (none: nothing)."""
        self.backend.executemany(sql, [tuple(row) for row in rows])

    def _lost(self, error) -> StoreError:
        return StoreError(f"lost the connection to the store {self.name} ({self.backend.describe(error)}): "
                          "rerun when the database is back; it resumes", transient=True)

    def _damaged(self, error) -> StoreError:
        if self.backend.lost(error):
            return self._lost(error)
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
                self.sync.put(resume_key(window), {"checkpoint": checkpoint, "url": resume})
            if high_water is not None:
                self.sync.put("high_water", high_water)
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
                        labels: Optional[Sequence[str]] = ("",), counts: bool = False,
                        events: Optional[Sequence[str]] = None) -> derived.Columns:
        """The named columns the analysis views read of every item, the labels whose names start with one of
        ``labels``, the uses per label with ``counts``, the label events of the labels starting with one of
        ``events`` (``derived.py``), from the columns snapshot when it is current (``snapshot.py``); a
        damaged store is a StoreError."""
        try:
            return snapshot.read(self, numbers, texts, labels, counts, events)
        except self.backend.Error as error:
            raise self._damaged(error) from None

    def refresh_columns(self) -> bool:
        """Rewrite the columns snapshot unless it is current (a writer's, at the end of its run); whether it did."""
        try:
            return snapshot.refresh(self)
        except self.backend.Error as error:
            raise self._damaged(error) from None

    def timelines(self) -> int:
        """How many items the timeline export walked (0: none, or a store from before its tables)."""
        return derived.timelines(self)

    def stream(self, sql: str, args: tuple = ()) -> Iterator[tuple]:
        """The rows of a portable query, fetched as they are read."""
        return self.backend.stream(sql, args)

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
            self.sync.put("closers_progress", progress)

    def closers(self) -> Dict[int, Optional[str]]:
        """number -> login of who last closed it (None for deleted users)."""
        return dict(self.execute("SELECT number, login FROM closers"))

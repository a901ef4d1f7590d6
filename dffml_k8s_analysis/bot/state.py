"""The bot's memory, one SQLite file shared by every serving replica: deliveries, what was applied, leases.

- ``deliveries``: each ``X-GitHub-Delivery`` received (the newest :data:`KEEP`),
  its item, its state (queued, done, ignored, failed) and outcome, so a delivery
  seen before is answered without any work, by whichever replica gets it;
- ``applied``: per item, the payload ``updated_at`` of the newest delivery
  applied, so an older one (a replay) is ignored;
- ``leases``: per item, which reconcile holds it until when, so replicas take
  an item one at a time; a holder that died loses it after :data:`LEASE_S`.

Transactions are short and ``BEGIN IMMEDIATE``; the file is in WAL mode, so
it needs a filesystem with working POSIX locks (one node's disk, not NFS).
"""
import asyncio
import contextlib
import json
import os
import sqlite3
import time
import uuid
from typing import Any, AsyncIterator, Dict, Iterator, Optional

from ..errors import UserError

KEEP = 10_000
LEASE_S = 900.0  # longer than the longest reconcile (every retry of a hanging GitHub)
LEASE_POLL_S = 0.05

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, received REAL NOT NULL, repo TEXT NOT NULL,
    number INTEGER NOT NULL, updated_at TEXT, state TEXT NOT NULL, outcome TEXT);
CREATE INDEX IF NOT EXISTS deliveries_by_time ON deliveries(received);
CREATE TABLE IF NOT EXISTS applied (repo TEXT NOT NULL, number INTEGER NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (repo, number));
CREATE TABLE IF NOT EXISTS leases (repo TEXT NOT NULL, number INTEGER NOT NULL, holder TEXT NOT NULL,
    expires REAL NOT NULL, PRIMARY KEY (repo, number));
"""


class BotState:
    """The shared file at ``path`` (created with its directory when missing); UserError when it cannot be used."""

    def __init__(self, path: str):
        self.path = path
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with self._transaction() as db:
                for statement in filter(str.strip, SCHEMA.split(";")):
                    db.execute(statement)
        except (OSError, sqlite3.Error) as error:
            raise UserError(f"cannot use the bot's state file {path}: {error}") from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")
            db.close()

    def receive(self, delivery: str, repo: str, number: int, updated_at: Optional[str]) -> bool:
        """Record a new delivery as queued; False when it was received before."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM deliveries WHERE id = ?", (delivery,)).fetchone():
                return False
            db.execute("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, 'queued', NULL)",
                       (delivery, time.time(), repo.lower(), number, updated_at))
            db.execute("DELETE FROM deliveries WHERE received < (SELECT received FROM deliveries "
                       "ORDER BY received DESC LIMIT 1 OFFSET ?)", (KEEP - 1,))
            return True

    def delivery(self, delivery: str) -> Optional[Dict[str, Any]]:
        """What became of a delivery: its item, state and outcome (None: not among those remembered)."""
        with self._transaction() as db:
            row = db.execute("SELECT repo, number, updated_at, state, outcome FROM deliveries WHERE id = ?",
                             (delivery,)).fetchone()
        if row is None:
            return None
        repo, number, updated_at, state, outcome = row
        return {"id": delivery, "repo": repo, "number": number, "updated_at": updated_at, "state": state,
                "outcome": json.loads(outcome) if outcome else None}

    def queued(self) -> list:
        """Ids of the deliveries still queued (left by a replica that stopped), oldest first."""
        with self._transaction() as db:
            return [row[0] for row in db.execute("SELECT id FROM deliveries WHERE state = 'queued' ORDER BY received")]

    def finish(self, delivery: str, state: str, outcome: Dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute("UPDATE deliveries SET state = ?, outcome = ? WHERE id = ?", (state, json.dumps(outcome), delivery))

    def older_than_applied(self, repo: str, number: int, updated_at: Optional[str]) -> Optional[str]:
        """The ``updated_at`` already applied to the item when ``updated_at`` is older, else None."""
        with self._transaction() as db:
            row = db.execute("SELECT updated_at FROM applied WHERE repo = ? AND number = ?",
                             (repo.lower(), number)).fetchone()
        return row[0] if row and updated_at and updated_at < row[0] else None

    def applied(self, repo: str, number: int, updated_at: Optional[str]) -> None:
        """Remember that the item was reconciled for a delivery of ``updated_at`` (the newest wins)."""
        if not updated_at:
            return
        with self._transaction() as db:
            db.execute("INSERT INTO applied VALUES (?, ?, ?) ON CONFLICT (repo, number) DO UPDATE "
                       "SET updated_at = max(updated_at, excluded.updated_at)", (repo.lower(), number, updated_at))

    def _try_lease(self, repo: str, number: int, holder: str) -> bool:
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT expires FROM leases WHERE repo = ? AND number = ?", (repo, number)).fetchone()
            if row and row[0] > now:
                return False
            db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?)", (repo, number, holder, now + LEASE_S))
            return True

    def _release(self, repo: str, number: int, holder: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM leases WHERE repo = ? AND number = ? AND holder = ?", (repo, number, holder))

    @contextlib.asynccontextmanager
    async def lease(self, repo: str, number: int) -> AsyncIterator[None]:
        """Hold the item, across processes, for the block (waiting while another holder has it)."""
        key, holder = (repo.lower(), number), uuid.uuid4().hex
        while not self._try_lease(*key, holder):
            await asyncio.sleep(LEASE_POLL_S)
        try:
            yield
        finally:
            self._release(*key, holder)

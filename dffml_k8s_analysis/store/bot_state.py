"""The labeling bot's memory, in the store, so every serving replica on any node shares it.

- ``deliveries``: each ``X-GitHub-Delivery`` received (every queued one and the
  newest ``keep`` finished), its item, its state (queued, done, ignored, failed)
  and outcome (while queued: why it waits, if it was tried);
- ``applied``: per item, the payload ``updated_at`` of the newest delivery applied;
- ``leases``: per item, which reconcile holds it until when;
- ``state`` key ``bot_swept:REPO``: when the last periodic sweep of the repository started;
- ``state`` key ``bot_own_writes:REPO``: how many deliveries the bot's own label writes caused (skipped);
- ``bot_decisions``: per item, the bot's newest decision of its own on the model's label, in any mode
  (shadow's are what it would have done), for the bot's report.

``store.bot`` of a :class:`core.Store`; the tables are made by ``migrations.py``. Each write is
one statement that decides by itself (``ON CONFLICT``), so replicas racing on
one row get one winner on either backend. ``dffml_k8s_analysis.bot.state``
gives these their meaning.
"""
import json
from typing import List, Optional, Tuple

OWN_WRITES = "bot_own_writes:"


class BotMemory:
    """The bot's memory in ``store`` (portable SQL over its ``execute``/``transaction``)."""

    def __init__(self, store):
        self.store = store

    def receive_delivery(self, delivery: str, received: float, repo: str, number: int,
                         updated_at: Optional[str], keep: int, max_queued: int) -> Optional[bool]:
        """Record a new delivery as queued: True; False when it was received before; None (nothing recorded)
        when ``max_queued`` are queued already. Of the finished ones the newest ``keep`` are kept; a queued
        one is never pruned."""
        with self.store.transaction():
            if self.store.execute("SELECT 1 FROM deliveries WHERE id = ?", (delivery,)):
                return False
            if self.store.execute("SELECT count(*) FROM deliveries WHERE state = 'queued'")[0][0] >= max_queued:
                return None
            if not self.store.execute("INSERT INTO deliveries (id, received, repo, number, updated_at, state) "
                                "VALUES (?, ?, ?, ?, ?, 'queued') ON CONFLICT (id) DO NOTHING RETURNING id",
                                (delivery, received, repo, number, updated_at)):
                return False
            self.store.execute("DELETE FROM deliveries WHERE state <> 'queued' AND received < (SELECT received FROM "
                         "deliveries WHERE state <> 'queued' ORDER BY received DESC LIMIT 1 OFFSET ?)", (keep - 1,))
            return True

    def delivery_row(self, delivery: str) -> Optional[Tuple]:
        """(repo, number, updated_at, state, outcome) of a delivery, or None."""
        rows = self.store.execute("SELECT repo, number, updated_at, state, outcome FROM deliveries WHERE id = ?",
                            (delivery,))
        return rows[0] if rows else None

    def queued_deliveries(self) -> List[str]:
        rows = self.store.execute("SELECT id FROM deliveries WHERE state = 'queued' ORDER BY received")
        return [row[0] for row in rows]

    def finish_delivery(self, delivery: str, state: str, outcome: dict) -> None:
        with self.store.transaction():
            self.store.execute("UPDATE deliveries SET state = ?, outcome = ? WHERE id = ?",
                         (state, json.dumps(outcome), delivery))

    def applied_at(self, repo: str, number: int) -> Optional[str]:
        rows = self.store.execute("SELECT updated_at FROM applied WHERE repo = ? AND number = ?", (repo, number))
        return rows[0][0] if rows else None

    def set_applied(self, repo: str, number: int, updated_at: str) -> None:
        """Remember ``updated_at`` as applied to the item unless a newer one is."""
        with self.store.transaction():
            self.store.execute("INSERT INTO applied (repo, number, updated_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (repo, number) DO UPDATE SET updated_at = excluded.updated_at "
                         "WHERE excluded.updated_at > applied.updated_at", (repo, number, updated_at))

    def take_lease(self, repo: str, number: int, holder: str, now: float, until: float) -> bool:
        """Hold the item until ``until`` unless another holder has it past ``now``; whether it is held."""
        with self.store.transaction():
            return bool(self.store.execute(
                "INSERT INTO leases (repo, number, holder, expires) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (repo, number) DO UPDATE SET holder = excluded.holder, expires = excluded.expires "
                "WHERE leases.expires <= ? RETURNING holder", (repo, number, holder, until, now)))

    def renew_lease(self, repo: str, number: int, holder: str, until: float) -> bool:
        """Hold the item until ``until`` if ``holder`` still has it; whether it does."""
        with self.store.transaction():
            return bool(self.store.execute("UPDATE leases SET expires = ? WHERE repo = ? AND number = ? AND holder = ? "
                                     "RETURNING holder", (until, repo, number, holder)))

    def release_lease(self, repo: str, number: int, holder: str) -> None:
        with self.store.transaction():
            self.store.execute("DELETE FROM leases WHERE repo = ? AND number = ? AND holder = ?",
                               (repo, number, holder))

    def record_decision(self, repo: str, number: int, decided: float, mode: str, label: str, decision: str,
                        probability: float) -> None:
        """Keep the bot's newest decision on an item."""
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO bot_decisions (repo, number, decided, mode, label, decision, probability) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repo, number) DO UPDATE SET decided = excluded.decided, "
                "mode = excluded.mode, label = excluded.label, decision = excluded.decision, "
                "probability = excluded.probability", (repo, number, decided, mode, label, decision, probability))

    def decisions(self, repo: str, mode: str, limit: int) -> List[Tuple]:
        """(number, decided, label, decision, probability) of the newest ``limit`` decisions in ``mode``, newest first."""
        return self.store.execute("SELECT number, decided, label, decision, probability FROM bot_decisions "
                                  "WHERE repo = ? AND mode = ? ORDER BY decided DESC LIMIT ?", (repo, mode, limit))

    def count_own_write(self, repo: str) -> None:
        """Count one delivery of ``repo`` that the bot's own label write caused (skipped)."""
        with self.store.transaction():
            self.store.execute("INSERT INTO state (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE SET "
                               "value = CAST(CAST(state.value AS INTEGER) + 1 AS TEXT)", (OWN_WRITES + repo,))

    def own_writes(self, repo: str) -> int:
        """How many deliveries of ``repo`` the bot skipped as caused by its own label writes."""
        rows = self.store.execute("SELECT value FROM state WHERE key = ?", (OWN_WRITES + repo,))
        return int(rows[0][0]) if rows and str(rows[0][0]).isdigit() else 0

    def swept(self, repo: str) -> Optional[float]:
        """When the last periodic sweep of ``repo`` started (epoch seconds), or None."""
        rows = self.store.execute("SELECT value FROM state WHERE key = ?", ("bot_swept:" + repo,))
        try:
            return float(rows[0][0]) if rows else None
        except ValueError:  # damaged: sweep as if never swept
            return None

    def set_swept(self, repo: str, when: float) -> None:
        with self.store.transaction():
            self.store.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                               "value = excluded.value", ("bot_swept:" + repo, repr(when)))

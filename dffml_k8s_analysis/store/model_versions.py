"""The trained models' versions, their rollout and the canary's record, in the store.

``dffml_k8s_analysis.model.registry`` keeps each version's files here as one
archive, so serving replicas on any node load the promoted version from the
database. ``store.models`` of a :class:`core.Store`; the tables are made by ``migrations.py``.
"""
import json
from typing import Iterable, List, Optional

MAX_TEXT = 65536  # characters of a version's text column read (a data version is a few hundred)


class ModelVersions:
    """The model versions of ``store`` (portable SQL over its ``execute``/``transaction``)."""

    def __init__(self, store):
        self.store = store

    def add_model_version(self, stamp: str, created: str, data_version: dict, archive: bytes) -> None:
        """Store a trained candidate: its files as one archive."""
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO model_versions (stamp, created, data_version, status, archive) VALUES (?, ?, ?, ?, ?)",
                (stamp, created, json.dumps(data_version), "candidate", archive),
            )

    def model_versions(self, statuses: Iterable[str] = ()) -> List[dict]:
        """Every model version (or those of ``statuses``) by stamp, without its archive, as stored but each text
        cut after :data:`MAX_TEXT` characters (a longer one is no version's): the registry validates them
        (``data_version`` and ``decision`` are JSON text)."""
        statuses = list(statuses)
        where = f" WHERE status IN ({', '.join('?' * len(statuses))})" if statuses else ""
        texts = ", ".join(f"substr({column}, 1, {MAX_TEXT + 1})" for column in
                          ("stamp", "created", "data_version", "status"))
        rows = self.store.execute(f"SELECT {texts}, canary_share, substr(canary_until, 1, {MAX_TEXT + 1}), "
                                  f"substr(decision, 1, {MAX_TEXT + 1}) FROM model_versions" + where
                                  + " ORDER BY stamp", tuple(statuses))
        return [{"stamp": stamp, "created": created, "data_version": version, "status": status,
                 "canary_share": share, "canary_until": until, "decision": decision}
                for stamp, created, version, status, share, until, decision in rows]

    def model_archive_size(self, stamp: str) -> Optional[int]:
        """How long version ``stamp``'s archive is (None: no such version), before reading it."""
        rows = self.store.execute("SELECT length(archive) FROM model_versions WHERE stamp = ?", (stamp,))
        return rows[0][0] if rows else None

    def model_archive(self, stamp: str):
        """Version ``stamp``'s archive as stored (bytes, unless a row was written by other hands), or None."""
        rows = self.store.execute("SELECT archive FROM model_versions WHERE stamp = ?", (stamp,))
        return rows[0][0] if rows else None

    def set_model_versions(self, changes: Iterable[dict], forget: Iterable[str] = ()) -> None:
        """Apply status/canary changes (dicts as :meth:`model_versions` gives) and drop ``forget``, atomically."""
        with self.store.transaction():
            self.store.executemany(
                "UPDATE model_versions SET status = ?, canary_share = ?, canary_until = ?, decision = ? "
                "WHERE stamp = ?",
                [(change["status"], change["canary_share"], change["canary_until"],
                  json.dumps(change["decision"]) if change["decision"] is not None else None, change["stamp"])
                 for change in changes],
            )
            for stamp in forget:
                self.store.execute("DELETE FROM canary_observations WHERE canary = ?", (stamp,))
                self.store.execute("DELETE FROM model_versions WHERE stamp = ?", (stamp,))

    def save_observations(self, rows: Iterable[tuple]) -> None:
        """Record side-by-side answers: (id, canary, serving, observed_at, answered_by, serving_probability,
        canary_probability, agree, serving_ms, canary_ms, error) rows."""
        with self.store.transaction():
            self.store.executemany(
                "INSERT INTO canary_observations (id, canary, serving, observed_at, answered_by, serving_probability, "
                "canary_probability, agree, serving_ms, canary_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                list(rows),
            )

    def observations(self, canary: str, limit: int) -> List[dict]:
        """At most ``limit`` of a canary's observations, each a dict of the columns :meth:`save_observations` wrote."""
        columns = ("id", "canary", "serving", "observed_at", "answered_by", "serving_probability", "canary_probability",
                   "agree", "serving_ms", "canary_ms", "error")
        rows = self.store.execute(f"SELECT {', '.join(columns)} FROM canary_observations WHERE canary = ? ORDER BY id LIMIT ?",
                            (canary, limit))
        return [dict(zip(columns, row)) for row in rows]


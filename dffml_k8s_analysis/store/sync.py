"""The export's sync state, as ``store.sync``: its plan of time windows and their checkpoints, where each
rerun resumes, ETags, the closers walk's progress and the high-water mark (the ``state``, ``windows`` and
``etags`` tables). A page of items and its checkpoint commit together (``Store.save_page``)."""
import json
from typing import List, Optional

from .. import timeutil
from .errors import StoreError


def resume_key(window: Optional[int]) -> str:
    return "resume/final" if window is None else f"resume/{window}"


class SyncState:
    """The sync state of ``store`` (portable SQL over its ``execute``/``transaction``)."""

    def __init__(self, store):
        self.store = store

    def get(self, key: str, default=None):
        rows = self.store.execute("SELECT value FROM state WHERE key = ?", (key,))
        try:
            return json.loads(rows[0][0]) if rows else default
        except ValueError:
            raise self._damaged(key) from None

    def _damaged(self, key: str) -> StoreError:
        command = self.store.backend.shell(f"DELETE FROM state WHERE key = '{key}'")
        return StoreError(f"store {self.store.name}: its sync state {key!r} is damaged; remove it with {command} "
                          "and rerun")

    def set(self, key: str, value) -> None:
        with self.store.transaction():
            self.put(key, value)

    def put(self, key: str, value) -> None:
        """Set ``key`` inside the caller's transaction."""
        self.store.execute("INSERT INTO state (key, value) VALUES (?, ?) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    def resume(self, window: Optional[int] = None) -> dict:
        """Where a rerun of ``window`` (None: the final pass) continues: checkpoint and link, or {}."""
        return self.get(resume_key(window), {})

    def etag(self, url: str) -> Optional[str]:
        rows = self.store.execute("SELECT etag FROM etags WHERE url = ?", (url,))
        return rows[0][0] if rows else None

    def set_etag(self, url: str, etag: Optional[str]) -> None:
        """Remember the ETag of ``url`` (None: forget it)."""
        with self.store.transaction():
            if etag is None:
                self.store.execute("DELETE FROM etags WHERE url = ?", (url,))
                return
            self.store.execute("INSERT INTO etags (url, etag) VALUES (?, ?) "
                               "ON CONFLICT(url) DO UPDATE SET etag = excluded.etag", (url, etag))

    def finish_closers(self, since: str) -> None:
        """Record a finished closers walk; the next one starts from ``since``."""
        with self.store.transaction():
            self.closers_done(since)
            self.store.execute("DELETE FROM state WHERE key = 'closers_progress'")

    def closers_done(self, since: str) -> None:
        """Inside the caller's transaction: the closers are known for every change before ``since`` (a finished
        closers or timeline walk; the later of the two counts), where the next closers walk starts."""
        done = (self.get("closers") or {}).get("since")
        if done is None or timeutil.epoch(since) > timeutil.epoch(done):
            self.put("closers", {"since": since})

    # The export plan: time windows and their checkpoints

    def start_plan(self, plan: dict, windows: List[dict]) -> None:
        """Replace any previous plan with a new one."""
        with self.store.transaction():
            self.store.execute("DELETE FROM windows")
            self.store.execute("DELETE FROM state WHERE key LIKE 'resume/%'")
            self._add_windows(windows)
            self.put("plan", plan)

    def join_plan(self, plan: dict, windows: List[dict]) -> None:
        """Start ``plan`` unless the store already has it: how the pods of one export share a database.

        Every pod passes the same plan and windows; the first one in writes them,
        the others (and a pod's rerun) find them with their checkpoints intact.
        A different unfinished plan is a StoreError.
        """
        with self.store.transaction():
            current = self.get("plan")
            if current is not None and current != plan:
                raise StoreError(f"store {self.store.name} holds another unfinished export ({current}): "
                                 "finish it with `k8s-analysis export` first")
            self._add_windows(windows, " ON CONFLICT(idx) DO NOTHING")
            self.put("plan", plan)

    def _add_windows(self, windows: List[dict], conflict: str = "") -> None:
        self.store.executemany('INSERT INTO windows (idx, start, "end") VALUES (?, ?, ?)' + conflict,
                               [(w["idx"], w["start"], w["end"]) for w in windows])

    def plan(self) -> Optional[dict]:
        """The export plan in progress, if an export has not finished."""
        plan = self.get("plan")
        if plan is not None and not (isinstance(plan, dict) and isinstance(plan.get("started_at"), str)):
            raise self._damaged("plan")
        return plan

    def windows(self) -> List[dict]:
        """The plan's windows with their checkpoints and done flags."""
        rows = self.store.execute('SELECT idx, start, "end", checkpoint, done FROM windows ORDER BY idx')
        return [{"idx": idx, "start": start, "end": end, "checkpoint": checkpoint, "done": bool(done)}
                for idx, start, end, checkpoint, done in rows]

    def finish_window(self, idx: int) -> None:
        with self.store.transaction():
            self.store.execute("UPDATE windows SET done = 1 WHERE idx = ?", (idx,))

    def finish_plan(self, high_water: Optional[str]) -> None:
        """Mark the export complete: drop the plan, keep the high-water mark."""
        with self.store.transaction():
            self.store.execute("DELETE FROM windows")
            self.store.execute("DELETE FROM state WHERE key = 'plan' OR key LIKE 'resume/%'")
            if high_water is not None:
                self.put("high_water", high_water)

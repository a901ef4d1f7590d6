"""Each item's timeline in the store (the ``label_events``, ``timeline`` and ``closers`` tables, migration 7):
one page of the walk and its progress in one transaction, so a killed walk resumes where it stopped."""
from typing import Iterable, List

TIMELINE_COLUMNS = ("number", "updated_at", "first_response_at", "first_response_by", "first_review_at",
                    "first_approval_at", "merged_at", "merged_by", "complete")
# A follow-up page keeps the first response, review and approval an earlier page found; a merge is taken as found
UPSERT = (
    f"INSERT INTO timeline ({', '.join(TIMELINE_COLUMNS)}) VALUES ({', '.join('?' * len(TIMELINE_COLUMNS))}) "
    "ON CONFLICT(number) DO UPDATE SET updated_at = excluded.updated_at, "
    "first_response_by = CASE WHEN timeline.first_response_at IS NULL THEN excluded.first_response_by "
    "ELSE timeline.first_response_by END, "
    "first_response_at = COALESCE(timeline.first_response_at, excluded.first_response_at), "
    "first_review_at = COALESCE(timeline.first_review_at, excluded.first_review_at), "
    "first_approval_at = COALESCE(timeline.first_approval_at, excluded.first_approval_at), "
    "merged_by = CASE WHEN excluded.merged_at IS NULL THEN timeline.merged_by ELSE excluded.merged_by END, "
    "merged_at = COALESCE(excluded.merged_at, timeline.merged_at), complete = excluded.complete"
)


def save_page(store, fresh: List[int], events: Iterable[tuple], timelines: Iterable[tuple],
              closers: Iterable[tuple], progress: dict) -> None:
    """Write one page: the items in ``fresh`` lose what an earlier walk stored of them; then their label
    events (number, seq, at, action, label, actor, actor_kind), timeline rows (:data:`TIMELINE_COLUMNS`) and
    closers (number, login, closed_at), with the walk's ``progress``."""
    with store.transaction():
        store.executemany("DELETE FROM label_events WHERE number = ?", [(n,) for n in fresh])
        store.executemany("DELETE FROM timeline WHERE number = ?", [(n,) for n in fresh])
        store.executemany("INSERT INTO label_events (number, seq, at, action, label, actor, actor_kind) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)", events)
        store.executemany(UPSERT, timelines)
        store.executemany("INSERT INTO closers (number, login, closed_at) VALUES (?, ?, ?) "
                          "ON CONFLICT(number) DO UPDATE SET login = excluded.login, closed_at = excluded.closed_at "
                          "WHERE excluded.closed_at >= closers.closed_at", closers)
        store.sync.put("timeline_progress", progress)


def finish(store, since: str, bots: str) -> None:
    """Record a finished walk: the next one walks items updated since ``since``, with the bot pattern ``bots``.
    It filled the closers too: the next closers walk starts there as well."""
    with store.transaction():
        store.sync.put("timeline", {"since": since, "bots": bots})
        store.sync.closers_done(since)
        store.execute("DELETE FROM state WHERE key = 'timeline_progress'")

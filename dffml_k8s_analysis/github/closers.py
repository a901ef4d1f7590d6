"""Who closed each issue and pull request, 100 items per request.

The REST listing has no ``closed_by`` and the single-issue GET would cost one
request per item, so this asks GraphQL for closed items with their last
``ClosedEvent``'s actor: about one request per 100 closed items, against the
GraphQL budget rather than the REST one. Issues are walked by ``updated_at``
ascending from ``since`` (GraphQL's ``filterBy``); pull requests have no such
filter, so an update walks them newest first and stops at ``since``.

Each page is committed with its cursor, so a killed run resumes; a finished
run records its start time as the next update's ``since``.
"""
import datetime
import time
from typing import Dict, List, Optional, Tuple

from .. import interrupt, timeutil
from ..store import Store
from .client import GitHubError, get_json, graphql, server_time

QUERY = """
query($owner: String!, $name: String!, $cursor: String%(since)s) {
  repository(owner: $owner, name: $name) {
    %(connection)s(first: 100, after: $cursor, states: %(states)s,%(filter)s
        orderBy: {field: UPDATED_AT, direction: %(direction)s}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        number
        updatedAt
        closedAt
        timelineItems(itemTypes: [CLOSED_EVENT], last: 1) {
          nodes { ... on ClosedEvent { actor { login } createdAt } }
        }
      }
    }
  }
  rateLimit { cost remaining resetAt }
}
"""
ISSUES = QUERY % {"connection": "issues", "states": "CLOSED", "filter": " filterBy: {since: $since},",
                  "direction": "ASC", "since": ", $since: DateTime"}
# No $since: GitHub rejects a document declaring a variable it does not use
PULL_REQUESTS = QUERY % {"connection": "pullRequests", "states": "[CLOSED, MERGED]", "filter": "",
                         "direction": "DESC", "since": ""}
OVERLAP = datetime.timedelta(minutes=5)


def fetch_closers(sess) -> Dict[str, int]:
    """Fetch closers since the last run (all of them the first time); return counts."""
    gh = sess.client()
    counts = {"requests": 0, "fetched": 0}
    with sess.open() as store, interrupt.walking("closers"):
        progress = store.sync.get("closers_progress") or _new_progress(sess, gh, store)
        sess.bar.set_description(f"closers {sess.repo}")  # a bar of its own, with a total: the closed items to walk
        sess.bar.total = _estimate(store, progress["since"])
        for connection, query in (("issues", ISSUES), ("pullRequests", PULL_REQUESTS)):
            while progress[connection] != "done":
                variables = {"owner": sess.owner, "name": sess.name, "cursor": progress[connection]}
                if connection == "issues":
                    variables["since"] = progress["since"]
                rows, more, cursor = _page(graphql(gh, sess.budget, query, variables, f"the closers' query of {connection}"),
                                           connection, progress["since"])
                progress[connection] = cursor if more else "done"
                store.save_closers(rows, progress)
                counts["requests"] += 1
                counts["fetched"] += len(rows)
                sess.advance(len(rows))
                interrupt.check("closers")
        store.sync.finish_closers(progress["started"])
        store.refresh_columns()
        counts["closers"] = len(store.closers())
    return dict(counts, seconds=round(time.monotonic() - sess.started, 2))


def _new_progress(sess, gh, store: Store) -> dict:
    """Start a walk: from the last finished one minus an overlap, or from the beginning."""
    done = store.sync.get("closers")
    headers, _ = get_json(gh, sess.budget, "/rate_limit")  # free: it spends no budget
    return {
        "since": timeutil.shift(done["since"], -OVERLAP) if done else None,
        "started": server_time(headers),
        "issues": None,
        "pullRequests": None,
    }


def _page(data: dict, connection: str, since: Optional[str]) -> Tuple[List[tuple], bool, Optional[str]]:
    """(rows, whether to go on, the cursor to go on from) of a page; a malformed one is a GitHubError."""
    try:
        page = data["repository"][connection]
        rows, reached_since = _rows(page["nodes"], since)
        more, cursor = page["pageInfo"]["hasNextPage"] is True and not reached_since, page["pageInfo"]["endCursor"]
        if more and not isinstance(cursor, str) or not all(type(n) is int and n > 0 for n, _, _ in rows):
            raise ValueError
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        raise GitHubError(f"GitHub answered a malformed page of {connection} to the closers' GraphQL query") from None
    return rows, more, cursor


def _estimate(store: Store, since: Optional[str]) -> int:
    """How many closed items the walk will see: those of the store updated since ``since`` (else all)."""
    floor = timeutil.epoch(since) if since else 0
    return store.execute("SELECT COUNT(*) FROM derived WHERE state = 'closed' AND updated_at >= ?", (floor,))[0][0]


def _rows(nodes, since: Optional[str]) -> Tuple[List[tuple], bool]:
    """(number, login, closed_at) of nodes updated since ``since``; and whether older ones showed up."""
    rows = []
    for node in nodes:
        if since and node["updatedAt"] < since:
            return rows, True
        events = node["timelineItems"]["nodes"]
        actor = (events[-1].get("actor") if events else None) or {}
        rows.append((node["number"], actor.get("login"), node["closedAt"] or ""))
    return rows, False

"""Each item's timeline over GraphQL, 100 items per request: label events, first response, reviews, merge, close.

Issues and pull requests are walked by ``updatedAt`` like the closers (issues ascending from
``since`` with ``filterBy``; pull requests newest first, stopping at ``since``), each item with its
first :data:`EVENTS` timeline items. GitHub charges a query the requests its connections may need
(100 items and 100 timelines: 101 requests, 1 point), so a page of 100 items costs one point
whatever the number of events. An item whose events did not fit is stored as incomplete and
finished by follow-up queries, :data:`FOLLOW_UPS` items each, also one point. A timeline GitHub could
not resolve (``timelineItems``, its ``pageInfo`` or ``nodes`` null, an error beside the data) is
counted and asked again by a follow-up, :data:`RETRIES` times at most; then the item stays incomplete.

Every page is written with the walk's progress in one transaction (a killed walk resumes); a
finished walk records its start as the next update's ``since``. An actor is the item's
``author``, a ``bot`` (GitHub's ``Bot`` type, or a login matching the bot pattern, kept in the
store: Kubernetes' Prow robots are ordinary users), a ``ghost`` (a deleted account) or a
``person``. The first response is the first comment or review by neither the author nor a bot.
"""
import re
import time
from typing import Dict, List, Optional, Tuple

from .. import interrupt, timeutil
from ..errors import UserError
from ..store import timeline as stored
from .client import GitHubError, get_json, graphql_answer, graphql_error, server_time
from .closers import OVERLAP

EVENTS = 100  # timeline items per item and page: free, GitHub counts requests, not nodes
FOLLOW_UPS = 50  # items per follow-up query: two timelineItems connections each, 100 requests, one point
RETRIES = 2  # follow-ups asking again for a timeline GitHub did not resolve, before the item is left incomplete
# Kubernetes' Prow robot accounts, ordinary GitHub users (GitHub Apps' Bot actors are bots whatever this says)
DEFAULT_BOTS = r"k8s-ci-robot|k8s-triage-robot|k8s-merge-robot|k8s-release-robot|k8s-github-robot|k8s-bot|fejta-bot"

ACTOR = "{ __typename login }"
COMMON_EVENTS = f"""
          ... on LabeledEvent {{ createdAt actor {ACTOR} label {{ name }} }}
          ... on UnlabeledEvent {{ createdAt actor {ACTOR} label {{ name }} }}
          ... on IssueComment {{ createdAt author {ACTOR} }}
          ... on ClosedEvent {{ createdAt actor {ACTOR} }}"""
PR_EVENTS = COMMON_EVENTS + f"""
          ... on PullRequestReview {{ createdAt state author {ACTOR} }}
          ... on MergedEvent {{ createdAt actor {ACTOR} }}"""
ISSUE_TYPES = "LABELED_EVENT, UNLABELED_EVENT, ISSUE_COMMENT, CLOSED_EVENT"
PR_TYPES = ISSUE_TYPES + ", PULL_REQUEST_REVIEW, MERGED_EVENT"
KNOWN = {"LabeledEvent", "UnlabeledEvent", "IssueComment", "ClosedEvent", "PullRequestReview", "MergedEvent"}


def _timeline_items(types: str, events: str, after: str = "") -> str:
    return (f"timelineItems(first: {EVENTS},{after} itemTypes: [{types}]) {{\n"
            f"        pageInfo {{ hasNextPage endCursor }}\n        nodes {{\n          __typename{events}\n        }}\n      }}")


PAGE = """
query(%(variables)s) {
  repository(owner: $owner, name: $name) {
    %(connection)s(first: 100, after: $cursor,%(filter)s orderBy: {field: UPDATED_AT, direction: %(direction)s}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        number
        updatedAt
        closedAt
        author %(actor)s
        %(timeline)s
      }
    }
  }
  rateLimit { cost remaining resetAt }
}
"""
ISSUES = PAGE % {"variables": "$owner: String!, $name: String!, $cursor: String, $since: DateTime",
                 "connection": "issues", "filter": " filterBy: {since: $since},", "direction": "ASC", "actor": ACTOR,
                 "timeline": _timeline_items(ISSUE_TYPES, COMMON_EVENTS)}
PULL_REQUESTS = PAGE % {"variables": "$owner: String!, $name: String!, $cursor: String", "connection": "pullRequests",
                        "filter": "", "direction": "DESC", "actor": ACTOR,
                        "timeline": _timeline_items(PR_TYPES, PR_EVENTS)}


def follow_up_query(count: int) -> str:
    """The query finishing ``count`` items' timelines from their cursors (``$n0``, ``$c0``, ...)."""
    declared = "".join(f", $n{i}: Int!, $c{i}: String" for i in range(count))
    items = "".join(
        f"""
    i{i}: issueOrPullRequest(number: $n{i}) {{
      __typename
      ... on Issue {{ number {_timeline_items(ISSUE_TYPES, COMMON_EVENTS, f" after: $c{i},")} }}
      ... on PullRequest {{ number {_timeline_items(PR_TYPES, PR_EVENTS, f" after: $c{i},")} }}
    }}""" for i in range(count))
    return f"query($owner: String!, $name: String!{declared}) {{\n  repository(owner: $owner, name: $name) {{{items}\n  }}\n  rateLimit {{ cost remaining resetAt }}\n}}\n"


def bot_pattern(pattern: str) -> "re.Pattern":
    """``--bots``: a regular expression a whole login must match (any case)."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise UserError(f"--bots {pattern!r} is not a regular expression: {error}") from None


def fetch_timeline(sess, bots: Optional[str] = None) -> Dict[str, int]:
    """Walk the timelines of the items updated since the last walk (all the first time, or when the bot pattern
    changed); return counts."""
    gh = sess.client()
    with sess.open() as store, interrupt.walking("timeline"):
        done = store.sync.get("timeline") or {}
        progress = store.sync.get("timeline_progress")
        pattern = bots if bots is not None else (progress or done).get("bots", DEFAULT_BOTS)
        matcher = bot_pattern(pattern)
        if progress is None or progress["bots"] != pattern:
            progress = _new_progress(sess, gh, done if done.get("bots") == pattern else {}, pattern)
        walk = _Walk(sess, gh, store, progress, matcher)
        sess.bar.set_description(f"timeline {sess.repo}")
        sess.bar.total = _estimate(store, progress["since"])
        for connection, query in (("issues", ISSUES), ("pullRequests", PULL_REQUESTS)):
            while progress[connection] != "done":
                walk.page(connection, query)
        while progress["pending"]:
            walk.follow_up()
        stored.finish(store, progress["started"], pattern)
        store.refresh_columns()
        counts = dict(progress["counts"], items=store.execute("SELECT COUNT(*) FROM timeline")[0][0],
                      incomplete=store.execute("SELECT COUNT(*) FROM timeline WHERE complete = 0")[0][0])
    return dict(counts, seconds=round(time.monotonic() - sess.started, 2))


def _new_progress(sess, gh, done: dict, pattern: str) -> dict:
    """Start a walk: from the last finished one (with the same bot pattern) minus an overlap, or from the start."""
    headers, _ = get_json(gh, sess.budget, "/rate_limit")  # free: it spends no budget
    return {"since": timeutil.shift(done["since"], -OVERLAP) if done.get("since") else None,
            "started": server_time(headers), "bots": pattern, "issues": None, "pullRequests": None, "pending": [],
            "counts": {"requests": 0, "points": 0, "walked": 0, "follow_ups": 0, "vanished": 0,
                       "unknown_events": 0, "errors": 0, "unresolved": 0}}


def _estimate(store, since: Optional[str]) -> int:
    """How many items the walk will see: those of the store updated since ``since`` (else all)."""
    floor = timeutil.epoch(since) if since else 0
    return store.execute("SELECT COUNT(*) FROM derived WHERE updated_at >= ?", (floor,))[0][0]


class _Item:
    """What one item's timeline says so far (a follow-up page continues from ``state``)."""

    def __init__(self, number: int, updated_at: str, author: Optional[str], closed: bool, seq: int = 0):
        self.number, self.updated_at, self.author, self.closed, self.seq = number, updated_at, author, closed, seq
        self.events: List[tuple] = []
        self.response: Tuple[Optional[int], Optional[str]] = (None, None)
        self.review = self.approval = self.merged_at = None
        self.merged_by: Optional[str] = None
        self.closer: Optional[Tuple[Optional[str], str]] = None

    def state(self, cursor: Optional[str], tries: int = 0) -> dict:
        """What a follow-up goes on from: ``cursor`` (None: the start), ``tries`` of an unresolved timeline."""
        return {"number": self.number, "updated_at": self.updated_at, "author": self.author, "closed": self.closed,
                "seq": self.seq, "cursor": cursor, "tries": tries}

    def row(self, complete: bool) -> tuple:
        return (self.number, self.updated_at, self.response[0], self.response[1], self.review, self.approval,
                self.merged_at, self.merged_by, int(complete))


class _Walk:
    """One walk's pages: read each, write it with the progress, count what was odd."""

    def __init__(self, sess, gh, store, progress: dict, bots: "re.Pattern"):
        self.sess, self.gh, self.store, self.progress, self.bots = sess, gh, store, progress, bots
        self.counts = progress["counts"]
        self.counts.setdefault("unresolved", 0)  # a walk begun by an earlier version

    def _ask(self, query: str, variables: dict, what: str) -> Tuple[dict, List[dict]]:
        data, errors = graphql_answer(self.gh, self.sess.budget, query,
                                      dict(variables, owner=self.sess.owner, name=self.sess.name), what)
        self.counts["requests"] += 1
        self.counts["errors"] += len(errors)
        cost = (data.get("rateLimit") or {}).get("cost")
        self.counts["points"] += cost if type(cost) is int else 1
        return data, errors

    def page(self, connection: str, query: str) -> None:
        """One page of 100 items of ``connection``, written with the cursor to go on from."""
        what = f"the timeline's query of {connection}"
        since = self.progress["since"]
        variables = {"cursor": self.progress[connection]}
        if connection == "issues":
            variables["since"] = since
        data, errors = self._ask(query, variables, what)
        try:
            page = data["repository"][connection]
            nodes, info = page["nodes"], page["pageInfo"]
            more, cursor = info["hasNextPage"] is True, info["endCursor"]
            items, reached = [], False
            for node in nodes:
                if node is None:  # an item deleted while GitHub answered
                    self.counts["vanished"] += 1
                    continue
                if connection == "pullRequests" and since and node["updatedAt"] < since:
                    reached = True
                    break
                author = self._actor(node["author"], None)[0]
                item = _Item(_number(node), node["updatedAt"], author, node["closedAt"] is not None)
                items.append((item, self._go_on(item, node["timelineItems"], item.state(None))))
            if more and not reached and not isinstance(cursor, str):
                raise ValueError
        except (KeyError, TypeError, ValueError, AttributeError):
            raise _malformed(errors, what) from None
        self.progress[connection] = cursor if more and not reached else "done"
        numbers = {item.number for item, _ in items}
        pending = [p for p in self.progress["pending"] if p["number"] not in numbers]
        self.progress["pending"] = pending + [state for _, state in items if state is not None]
        fresh = [item for item, _ in items]
        self._save(fresh, fresh, {item.number for item, state in items if state is not None})
        self.counts["walked"] += len(items)
        self.sess.advance(len(items))
        interrupt.check("timeline")

    def follow_up(self) -> None:
        """Go on with the timelines of up to :data:`FOLLOW_UPS` items whose events did not fit their page."""
        batch = self.progress["pending"][:FOLLOW_UPS]
        variables = {}
        for index, state in enumerate(batch):
            variables[f"n{index}"], variables[f"c{index}"] = state["number"], state["cursor"]
        what = "the timeline's follow-up query"
        data, errors = self._ask(follow_up_query(len(batch)), variables, what)
        items, unfinished = [], []
        try:
            for index, state in enumerate(batch):
                node = data["repository"][f"i{index}"]
                if node is None:  # deleted since its first page: it stays incomplete, counted
                    self.counts["vanished"] += 1
                    continue
                item = _Item(state["number"], state["updated_at"], state["author"], state["closed"], state["seq"])
                following = self._go_on(item, node["timelineItems"], state)
                if following is None or following["tries"] == 0:  # read (an unresolved one keeps its stored row)
                    items.append(item)
                if following is not None and following["tries"] <= RETRIES:
                    unfinished.append(following)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise _malformed(errors, what) from None
        self.progress["pending"] = unfinished + self.progress["pending"][len(batch):]
        self.counts["follow_ups"] += 1
        self._save([], items, {state["number"] for state in unfinished})
        interrupt.check("timeline")

    def _save(self, fresh: List[_Item], items: List[_Item], unfinished: set) -> None:
        stored.save_page(self.store, [item.number for item in fresh],
                         [event for item in items for event in item.events],
                         [item.row(item.number not in unfinished) for item in items],
                         [(item.number, *item.closer) for item in items if item.closer and item.closed],
                         self.progress)

    def _go_on(self, item: _Item, connection, state: dict) -> Optional[dict]:
        """Read a page of the item's timeline (from ``state``) into ``item``; where a follow-up goes on from, None
        when the timeline is all read. A timeline GitHub did not resolve is counted and asked again from
        ``state``, one try more."""
        if not (isinstance(connection, dict) and isinstance(connection.get("pageInfo"), dict)
                and isinstance(connection.get("nodes"), list)):
            self.counts["unresolved"] += 1
            return dict(state, tries=state.get("tries", 0) + 1)
        cursor = self._read(item, connection)
        return None if cursor is None else item.state(cursor)

    def _read(self, item: _Item, connection: dict) -> Optional[str]:
        """Read a page of the item's timeline into ``item``; the cursor to go on from, None when it is all read."""
        for event in connection["nodes"]:
            kind = event.get("__typename") if isinstance(event, dict) else None
            if kind not in KNOWN:  # a type this walk does not ask for, or a node GitHub could not give
                self.counts["unknown_events"] += 1
                continue
            at = timeutil.epoch(event["createdAt"])
            login, actor_kind = self._actor(event.get("actor" if "actor" in event else "author"), item.author)
            if kind in ("LabeledEvent", "UnlabeledEvent"):
                action = "labeled" if kind == "LabeledEvent" else "unlabeled"
                item.events.append((item.number, item.seq, at, action, str(event["label"]["name"]), login,
                                    actor_kind))
                item.seq += 1
                continue
            by_someone_else = actor_kind in ("person", "ghost")
            if kind in ("IssueComment", "PullRequestReview") and by_someone_else and item.response[0] is None:
                item.response = (at, login)
            if kind == "PullRequestReview" and by_someone_else:
                item.review = item.review or at
                if event["state"] == "APPROVED":
                    item.approval = item.approval or at
            elif kind == "MergedEvent":
                item.merged_at, item.merged_by = at, login
            elif kind == "ClosedEvent":
                item.closer = (login, event["createdAt"])
        info = connection["pageInfo"]
        if info["hasNextPage"] is True:
            if not isinstance(info["endCursor"], str):
                raise ValueError
            return info["endCursor"]
        return None

    def _actor(self, actor, author: Optional[str]) -> Tuple[Optional[str], str]:
        """(login, kind) of an event's actor: ``ghost`` (deleted), ``bot``, ``author`` or ``person``."""
        if actor is None:
            return None, "ghost"
        login = actor["login"]
        if not isinstance(login, str):
            raise ValueError
        if actor.get("__typename") == "Bot":
            return (login if login.endswith("[bot]") else login + "[bot]"), "bot"
        if self.bots.fullmatch(login):
            return login, "bot"
        return login, "author" if login == author else "person"


def _malformed(errors: List[dict], what: str) -> GitHubError:
    """A page the walk cannot read: GitHub's own errors beside it when it gave some (a field it could not
    resolve), else a malformed page."""
    return graphql_error(errors, what) if errors else GitHubError(f"GitHub answered a malformed page to {what}")


def _number(node: dict) -> int:
    number = node["number"]
    if type(number) is not int or number <= 0:
        raise ValueError
    return number

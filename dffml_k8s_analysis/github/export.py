"""Export and incremental update of a repository's issues and pull requests.

A full export splits the repository's ``updated_at`` range into time windows.
Each window walks ``GET /repos/{o}/{r}/issues?state=all&since=START&sort=updated
&direction=asc&per_page=100`` (see :mod:`.listing`: cursor links, fresh
``since`` requests where GitHub gives page numbers) until it sees an item
updated at or after its end. Windows are independent and run concurrently.
When all are done, a final pass from the export's start time catches the items
that changed while the export ran, and records the high-water mark.

An update is that final pass alone, from the high-water mark minus an overlap.
When the last update's listing was one short page, its request is repeated
conditionally: when nothing changed GitHub answers 304, which costs no rate limit.

Every page is committed with its window's checkpoint and the link to continue
from (or the high-water mark) in one transaction, so a crash loses at most the
page in flight and a rerun resumes where it stopped, even inside thousands of
items sharing one second.

An Indexed Job's pods (``--shards``) each walk their share of the windows: into
shard files that :func:`merge_shards` combines (SQLite), or all into the same
PostgreSQL database, where they share the plan and a plain export afterwards
runs the final pass once.
"""
import datetime
import glob
import threading
import time
from typing import Dict, List, Optional

from tqdm import tqdm

from .. import interrupt, jobindex, timeutil
from ..store import Store, StoreError, StoreMissing, export_lock, open_store, repo_spec
from . import listing, pacing
from .client import Budget, GitHubError, api, check_base_url, get_json, server_time, split_repo

PER_PAGE = listing.PER_PAGE
MIN_WINDOW_PAGES = 10
# Refetch what changed in the last minutes before the high-water mark: cheap
# insurance against items committed late on GitHub's side.
OVERLAP = datetime.timedelta(minutes=5)


class Session:
    """What one export or update shares across its windows in this process."""

    def __init__(self, repo: str, base_url: str, store: Optional[str], quiet: bool = False, shared: bool = False):
        self.owner, self.name = split_repo(repo)
        self.repo = repo
        self.base_url = check_base_url(base_url)
        self.store_path = repo_spec(store, repo)
        self.store_lock = export_lock(self.store_path, repo, shared)
        self.shard: Optional[dict] = None  # this pod's share of an Indexed Job, set by plan()
        self.budget = Budget()
        self.lock = threading.Lock()
        self.fetched = 0
        self.started = time.monotonic()
        self.bar = tqdm(desc=f"export {repo}", unit=" items", disable=quiet or None, dynamic_ncols=True)

    @property
    def issues_url(self) -> str:
        return f"/repos/{self.owner}/{self.name}/issues"

    def client(self):
        return api(self.base_url)

    def open(self, create: bool = True) -> Store:
        return open_store(self.store_path, create, self.repo)

    def advance(self, items: int) -> None:
        """Count fetched items on the progress bar, with requests and budget."""
        with self.lock:
            self.fetched += items
            budget = self.budget
            self.bar.set_postfix_str(
                f"requests={budget.requests} rate-limit={budget.remaining}/{budget.limit}", refresh=False
            )
            self.bar.update(items)


_SESSIONS: Dict[str, Session] = {}


def new_session(repo: str, base_url: str, store: Optional[str], quiet: bool = False,
                shared: bool = False) -> Session:
    """Start this process's session for a store: one progress bar, one request count, the store's lock
    (``shared`` by the pods of an Indexed Job writing one PostgreSQL database)."""
    sess = Session(repo, base_url, store, quiet, shared)
    old = _SESSIONS.pop(sess.store_path, None)
    if old is not None:
        close_session(old)
    try:
        sess.store_lock.acquire()
    except StoreError:
        sess.bar.close()
        raise
    _SESSIONS[sess.store_path] = sess
    return sess


def get_session(fields: dict) -> Session:
    """The session a window or plan belongs to (a new one in a process that did not plan)."""
    sess = _SESSIONS.get(fields["store"])
    if sess is None:
        sess = new_session(fields["repo"], fields["base_url"], fields["store"], fields.get("quiet", False))
    return sess


def close_sessions() -> None:
    """Close what a failed run left open: progress bars, store locks."""
    for sess in list(_SESSIONS.values()):
        close_session(sess)


def close_session(sess: Session) -> None:
    sess.bar.close()
    sess.store_lock.release()
    if _SESSIONS.get(sess.store_path) is sess:
        del _SESSIONS[sess.store_path]


def check_workers(workers: int) -> None:
    """Refuse more concurrent windows than the pacer lets requests fly (GITHUB_PACE_* checked too)."""
    try:
        cap = pacing.Limits.from_env().max_in_flight
    except ValueError as error:
        raise GitHubError(str(error)) from None
    if workers > cap:
        raise GitHubError(f"workers {workers} is over the concurrency cap of {cap} requests in flight "
                          f"({pacing.ENV_PREFIX}CONCURRENCY / {pacing.ENV_PREFIX}SHARE)")


def plan(sess: Session, mode: str, windows: int, shard: Optional[dict] = None) -> List[dict]:
    """Decide what to fetch; return the windows still to walk.

    ``mode`` is ``full`` (export everything) or ``update`` (changes since the
    high-water mark; a full export when there is none). An unfinished export
    in the store is resumed either way. Nothing is written before GitHub has
    answered, so a bad token or URL leaves the store untouched. With ``shard``
    ({"index", "count", "until", "shared"}), see :func:`plan_shard`.
    """
    if mode not in ("full", "update"):
        raise GitHubError(f"mode must be 'full' or 'update', got {mode!r}")
    if windows < 1:
        raise GitHubError(f"windows must be at least 1, got {windows}")
    sess.shard = shard
    if shard is not None and shard["shared"]:
        return plan_shard(sess, windows, shard)
    try:
        with sess.open(create=False) as store:
            current, high_water = store.sync.plan(), store.sync.get("high_water")
            pending = [w for w in store.sync.windows() if not w["done"]]
    except StoreMissing:
        pass
    else:
        if current is not None:
            sess.bar.total = current.get("estimate")
            return [dict(w, **sess_fields(sess)) for w in pending]
        if mode == "update" and high_water and shard is None:
            return []
    if shard is not None:
        return plan_shard(sess, windows, shard)
    gh = sess.client()
    oldest_headers, oldest = get_json(
        gh, sess.budget, sess.issues_url,
        {"state": "all", "sort": "updated", "direction": "asc", "per_page": 1},
    )
    newest_headers, newest = get_json(
        gh, sess.budget, sess.issues_url,
        {"state": "all", "sort": "created", "direction": "desc", "per_page": 1},
    )
    oldest = listing.checked(oldest, sess.issues_url, oldest_headers)
    newest = listing.checked(newest, sess.issues_url, newest_headers)
    now = server_time(oldest_headers)
    # Issue and PR numbers are shared and sequential: the newest is a good
    # estimate of the total, for the progress bar and for sizing windows
    # (at least MIN_WINDOW_PAGES pages each, as each costs about one extra request).
    estimate = newest[0]["number"] if newest else 0
    windows = max(1, min(windows, estimate // (PER_PAGE * MIN_WINDOW_PAGES)))
    planned = split_windows(oldest[0]["updated_at"] if oldest else now, now, windows)
    sess.bar.total = estimate
    with sess.open() as store:
        store.sync.start_plan({"repo": sess.repo, "started_at": now, "estimate": estimate}, planned)
    return [dict(w, checkpoint=None, done=False, **sess_fields(sess)) for w in planned]


def plan_shard(sess: Session, windows: int, shard: dict) -> List[dict]:
    """This Indexed Job pod's share of a full export's windows.

    Every pod must cut the same windows without talking to the others, so the
    range is fixed: from the repository's creation (it never changes) to the
    ``until`` all pods are given. Pod ``index`` takes every ``count``-th window.
    Shard files: each pod's own plan, and :func:`merge_shards` later fetches
    what changed after ``until``. A ``shared`` database: every pod joins the one
    plan of all windows (a rerun finds its checkpoints there), and a plain
    export after the pods walks whatever is left and runs the final pass.
    """
    until = shard["until"]
    try:
        timeutil.parse(until)
    except (TypeError, ValueError):
        raise GitHubError(f"a sharded export needs until as YYYY-MM-DDTHH:MM:SSZ, got {until!r}") from None
    path = f"/repos/{sess.owner}/{sess.name}"
    _, repository = get_json(sess.client(), sess.budget, path)
    created = repository.get("created_at") if isinstance(repository, dict) else None
    try:
        timeutil.parse(created)
    except (TypeError, ValueError):
        raise GitHubError(f"GitHub answered {path} without the repository's created_at") from None
    every = split_windows(created, until, windows * shard["count"])
    planned = jobindex.share(every, shard["index"], shard["count"])
    if not shard["shared"]:
        with sess.open() as store:
            store.sync.start_plan({"repo": sess.repo, "started_at": until, "shard": shard}, planned)
        return [dict(w, checkpoint=None, done=False, **sess_fields(sess)) for w in planned]
    common = {"count": shard["count"], "until": until, "shared": True, "windows": len(every)}
    with sess.open() as store:
        store.sync.join_plan({"repo": sess.repo, "started_at": until, "shard": common}, every)
        stored = {w["idx"]: w for w in store.sync.windows()}
    return [dict(stored[w["idx"]], **sess_fields(sess)) for w in planned if not stored[w["idx"]]["done"]]


def sess_fields(sess: Session) -> dict:
    """What a window carries so that it runs on its own (no secrets)."""
    return {"repo": sess.repo, "base_url": sess.base_url, "store": sess.store_path}


def split_windows(start: str, end: str, count: int) -> List[dict]:
    """``count`` equal time windows covering [start, end)."""
    t0, t1 = timeutil.parse(start), timeutil.parse(end)
    if t1 <= t0:
        return [{"idx": 0, "start": start, "end": end}]
    step = (t1 - t0) / count
    bounds = [timeutil.format(t0 + step * i) for i in range(count)] + [end]
    bounds[0] = start
    return [
        {"idx": i, "start": bounds[i], "end": bounds[i + 1]}
        for i in range(count)
        if bounds[i] < bounds[i + 1]
    ]


def export_window(sess: Session, window: dict) -> Dict[str, int]:
    """Walk one window from its checkpoint to its end, committing page by page."""
    gh = sess.client()
    requests = stored = 0
    with sess.open() as store, interrupt.walking("export"):
        position = store.sync.resume(window["idx"])
        # a second back from the start: an exclusive ``since`` loses nothing either
        since = listing.restart_since(position.get("checkpoint") or window.get("checkpoint") or window["start"])
        for step in listing.pages(gh, sess.budget, sess.issues_url, since, window["end"], position.get("url")):
            requests += 1
            stored += store.save_page(step.items, window=window["idx"], checkpoint=step.checkpoint,
                                      resume=step.resume)
            sess.advance(len(step.items))
            interrupt.check("export")
        store.sync.finish_window(window["idx"])
    return {"window": window["idx"], "requests": requests, "items": stored}


def final_pass(sess: Session) -> dict:
    """Fetch everything updated since the export start (or the high-water mark).

    Run after all windows are done. Advances the high-water mark page by page
    and finishes the plan. Its first request is conditional only when the same
    request was a whole listing of less than a page last time: then a 304 proves
    that nothing changed (a first page unchanged proves nothing about the next).
    Returns the run's summary.
    """
    gh = sess.client()
    with sess.open() as store, interrupt.walking("final pass"):
        current = store.sync.plan()
        # a pod of an Indexed Job: merge_shards, or a plain export once all pods are done, does the final pass
        if current and "shard" in current and (sess.shard is not None or not current["shard"].get("shared")):
            return dict(summary(sess, store), shard=current["shard"])
        since = current["started_at"] if current else store.sync.get("high_water")
        if since is None:
            raise GitHubError(f"store {sess.store_path} has no export to finish")
        since = timeutil.shift(since, -OVERLAP)
        position = store.sync.resume()
        etag_key = f"{sess.issues_url}?since={since}"
        etag = None if position else store.sync.etag(etag_key)
        if position:
            since = listing.restart_since(position["checkpoint"])
        high_water = store.sync.get("high_water")
        requests = 0
        for step in listing.pages(gh, sess.budget, sess.issues_url, since, None, position.get("url"), etag):
            requests += 1
            if step.checkpoint:  # never past what is stored: not from a block's other end
                high_water = max(high_water or "", step.checkpoint)
            store.save_page(step.items, checkpoint=step.checkpoint, resume=step.resume, high_water=high_water)
            sess.advance(len(step.items))
            if step.last and not step.not_modified:
                whole = requests == 1 and not position and len(step.items) < listing.PER_PAGE
                store.sync.set_etag(etag_key, step.etag if whole else None)
            interrupt.check("final pass")
        store.sync.finish_plan(high_water or store.max_updated_at())
        store.refresh_columns()  # the analysis reads the columns from it in milliseconds
        return summary(sess, store)


def merge_shards(sess: Session, paths: List[str]) -> dict:
    """Combine finished shard stores into this store, then run the final pass.

    ``paths`` are files or glob patterns. Checks that the shards are one
    complete set (same ``until`` and count, every index present, every window
    done). Safe to run twice: items are upserted, the newest copy winning.
    """
    patterns = [paths] if isinstance(paths, str) else list(paths)
    paths = sorted({path for pattern in patterns for path in (glob.glob(pattern) or [pattern])})
    if not paths:
        raise StoreError("no shard stores to merge")
    shards = {}
    for path in paths:
        with open_store(path) as shard:
            current = shard.sync.plan() or {}
            if "shard" not in current:
                raise StoreError(f"{path} is not an unmerged export shard")
            index = current["shard"]["index"]
            if any(not w["done"] for w in shard.sync.windows()):
                raise StoreError(f"shard {path} is unfinished: rerun JOB_COMPLETION_INDEX={index}")
            shards[index] = (path, current["shard"])
    settings = {(info["count"], info["until"]) for _, info in shards.values()}
    if len(settings) != 1:
        raise StoreError(f"shards come from different exports (count, until): {sorted(settings)}")
    count, until = settings.pop()
    missing = sorted(set(range(count)) - set(shards))
    if missing:
        raise StoreError(f"shards missing for JOB_COMPLETION_INDEX {missing} of {count}")
    with sess.open() as store, interrupt.walking("merge"):
        for path, _ in shards.values():
            with open_store(path) as shard:
                batch = []
                for item in shard.raw_items():
                    batch.append(item)
                    if len(batch) == 1000:
                        store.save_page(batch)
                        batch = []
                        interrupt.check("merge")
                store.save_page(batch)
        store.sync.start_plan({"repo": sess.repo, "started_at": until}, [])
    return final_pass(sess)


def summary(sess: Session, store: Store) -> dict:
    counts = store.count()
    return dict(
        counts,
        repo=sess.repo,
        store=sess.store_path,
        fetched=sess.fetched,
        requests=sess.budget.requests,
        seconds=round(time.monotonic() - sess.started, 2),
    )


def summary_line(result: dict) -> str:
    line = (
        "{items} items stored ({issues} issues, {pull_requests} pull requests) in {store}; "
        "{fetched} fetched with {requests} API requests in {seconds:.1f} s".format(**result)
    )
    if "closers" in result:
        line += "; " + closers_line(result["closers"])
    if "timeline" in result:
        line += "; " + timeline_line(result["timeline"])
    return line


def closers_line(result: dict) -> str:
    return "closers of {closers} closed items, {fetched} fetched with {requests} GraphQL requests " \
           "in {seconds:.1f} s".format(**result)


def timeline_line(result: dict) -> str:
    line = "timelines of {items} items, {walked} walked with {requests} GraphQL requests ({points} points) " \
           "in {seconds:.1f} s".format(**result)
    odd = [f"{result[key]} {label}" for key, label in (("incomplete", "incomplete"), ("vanished", "vanished"),
           ("unknown_events", "events of unknown types skipped"),
           ("unresolved", "timelines unresolved and retried"), ("errors", "GraphQL errors beside data"))
           if result.get(key)]
    return line + (" (" + ", ".join(odd) + ")" if odd else "")

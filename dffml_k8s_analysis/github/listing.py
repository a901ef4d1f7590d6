"""Walking the issues listing by ``updated_at`` so that it cannot get stuck, loop or skip.

GitHub pages the listing by cursor (``after``), which is followed as given. When
it hands out page numbers instead, a fresh ``since`` request from the last item
seen replaces the page link whenever that moves forward in time, so deep page
numbers (and GitHub's large-dataset 422) only come up inside a block of items
sharing one second. There the page links are the only way on; when they end in
the 422, the block is finished from its other end (``direction=desc``) until the
walk meets an item it has already seen, and the walk goes on past the block.

Every restart goes back one second, so a ``since`` that is exclusive (strictly
after, as a 2026 report claims) loses nothing either; upserts remove the overlap.
"""
import datetime
import logging
from typing import Dict, Iterator, NamedTuple, Optional, Set
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from requests.utils import parse_header_links

from .. import timeutil
from .client import Budget, GitHubError, get_json, server_time
from .shapes import MAX_NUMBER

LOGGER = logging.getLogger(__name__)
PER_PAGE = 100
SECOND = datetime.timedelta(seconds=1)
CLOCK_SKEW = datetime.timedelta(hours=1)  # an updated_at later than the answer's Date by more is not GitHub's


class Step(NamedTuple):
    """One page of a walk and where a rerun may continue after it.

    ``checkpoint``: the ``updated_at`` a rerun restarts from (None: unchanged);
    ``resume``: the link to continue from (None: a fresh request from the checkpoint);
    ``last``: nothing follows this page; ``not_modified``: the conditional request got 304.
    """

    items: list
    checkpoint: Optional[str]
    resume: Optional[str]
    etag: Optional[str] = None
    last: bool = False
    not_modified: bool = False


def checked(data, what: str, headers: Dict[str, str]) -> list:
    """``data`` if it is a page of issues as GitHub lists them, else a one-line GitHubError.

    Every item is an object with a positive whole ``number`` and an ``updated_at`` of GitHub's form, not
    later than the answer's clock (its Date header) allows: what the walk, the store and its high-water
    mark rely on, so nothing malformed is stored (an item of year 9999 would end every later update).
    """
    if not isinstance(data, list):
        raise GitHubError(f"GitHub answered {what} with {type(data).__name__}, not a list of issues")
    latest = timeutil.parse(server_time(headers)) + CLOCK_SKEW
    for item in data:
        number = item.get("number") if isinstance(item, dict) else None
        updated = _timestamp(item) if isinstance(item, dict) else None
        problem = (f"an item that is not an object: {str(item)[:40]!r}" if not isinstance(item, dict) else
                   f"an item whose number is not a whole number from 1 to {MAX_NUMBER}: {str(number)[:40]!r}"
                   if type(number) is not int or not 0 < number <= MAX_NUMBER else
                   f"item #{number} with an updated_at not like 2024-01-31T12:00:00Z" if updated is None else
                   f"item #{number} updated at {item['updated_at']}, later than its own clock" if updated > latest
                   else None)
        if problem:
            raise GitHubError(f"GitHub answered {what} with {problem}")
    return data


def _timestamp(item: dict) -> Optional[datetime.datetime]:
    try:
        return timeutil.parse(item.get("updated_at"))
    except (TypeError, ValueError):
        return None


def params(since: str, direction: str = "asc") -> dict:
    return {"state": "all", "sort": "updated", "direction": direction, "per_page": PER_PAGE, "since": since}


def restart_since(checkpoint: str) -> str:
    """The ``since`` of a fresh request that loses nothing at or after ``checkpoint``."""
    return timeutil.shift(checkpoint, -SECOND)


def pages(gh, budget: Budget, path: str, since: str, until: Optional[str] = None,
          resume: Optional[str] = None, etag: Optional[str] = None) -> Iterator[Step]:
    """Every item updated in [since, until) (until None: to the end), page by page, ascending.

    ``resume``: a link a previous walk stored (a page link is taken one page
    back, as items that changed since then shift the pages). ``etag``: sent with
    the first request; a 304 yields one empty step with ``not_modified``.
    """
    url, query = (back_one_page(resume), None) if resume else (path, params(since))
    seen: Set[int] = set()  # numbers met since the last fresh request
    followed: Set[str] = set()  # the links this walk read: one met again is a loop, never walked for ever
    while True:
        try:
            headers, data = get_json(gh, budget, url, query, etag)
        except GitHubError as error:
            if error.status != 422 or query is not None:
                raise
            if resume is not None:  # a stale stored link: start afresh from the checkpoint
                url, query, resume = path, params(since), None
                continue
            yield from _block_from_the_end(gh, budget, path, since, until, seen)
            since = timeutil.shift(since, 2 * SECOND)  # past the block [since, since + 1 s]
            url, query, seen = path, params(since), set()
            continue
        resume = etag = None
        if data is None:
            yield Step([], None, None, headers.get("etag"), last=True, not_modified=True)
            return
        inside = [item for item in checked(data, _path(url), headers) if until is None or item["updated_at"] < until]
        seen.update(item["number"] for item in inside)
        following = not_read(gh, url, query, next_link(headers.get("link")), followed)
        done = following is None or len(inside) < len(data)
        checkpoint = inside[-1]["updated_at"] if inside else None
        if done or is_cursor_link(following) or not data:
            yield Step(inside, checkpoint, None if done else following, headers.get("etag"), last=done)
            if done:
                return
            url, query = following, None
            continue
        fresh = restart_since(data[-1]["updated_at"])
        if fresh > since:  # page numbers: a fresh request from the last item moves forward
            yield Step(inside, checkpoint, None, headers.get("etag"))
            url, query, since, seen = path, params(fresh), fresh, set()
        else:  # inside a block of one second: only the page links go on
            yield Step(inside, checkpoint, following, headers.get("etag"))
            url, query = following, None


def _block_from_the_end(gh, budget: Budget, path: str, since: str, until: Optional[str],
                        seen: Set[int]) -> Iterator[Step]:
    """After the large-dataset 422 inside the block at ``since``: walk down from the newest until a seen item."""
    LOGGER.info("large-dataset 422 inside the items of %s: listing them from the other end", since)
    url, query = path, params(since, "desc")
    followed: Set[str] = set()
    while url:
        try:
            headers, data = get_json(gh, budget, url, query)
        except GitHubError as error:
            if error.status != 422:
                raise
            raise GitHubError(
                f"too many items updated at {since} for GitHub's page-numbered listing to reach "
                f"from either end ({len(seen)} from the start): rerun later, when it gives cursor links"
            ) from None
        met = any(item["number"] in seen for item in checked(data, _path(url), headers))
        inside = [item for item in data if item["number"] not in seen
                  and (until is None or item["updated_at"] < until)]
        yield Step(inside, None, None)  # ``seen`` stays the other end's: only meeting it closes the gap
        if met:
            return
        url, query = not_read(gh, url, query, next_link(headers.get("link")), followed), None


def not_read(gh, url: str, query: Optional[dict], following: Optional[str], followed: Set[str]) -> Optional[str]:
    """``following`` (the next link of the page ``url`` read, a link unless ``query``), unless the walk read it
    already (added to ``followed``): a loop is a GitHubError, never walked for ever."""
    if query is None:
        followed.add(url)
    if following in followed:
        raise GitHubError(f"{gh.base_url} linked {_path(url)} back to a page already read "
                          f"({urlsplit(following).query[:100]}): not followed")
    return following


def _path(url: str) -> str:
    return urlsplit(url).path


def next_link(link: Optional[str]) -> Optional[str]:
    for entry in parse_header_links(link or ""):
        if entry.get("rel") == "next":
            return entry["url"]
    return None


def is_cursor_link(url: str) -> bool:
    """Whether a link continues by cursor (``after`` wins over ``page``, as on GitHub)."""
    query = parse_qs(urlsplit(url).query)
    return "after" in query or "before" in query or "page" not in query


def back_one_page(url: str) -> str:
    """A page-numbered link moved one page back (cursor links are returned as they are)."""
    if is_cursor_link(url):
        return url
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    query["page"] = [str(max(1, int(query["page"][0]) - 1))]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))

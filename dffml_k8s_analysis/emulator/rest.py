"""A local emulator of the GitHub REST API parts used to export issues and PRs.

It serves a deterministic :class:`~dffml_k8s_analysis.emulator.sample.Sample` with GitHub's
semantics: issue listing with filters, page and cursor pagination and the
large-dataset page limit, comments and labels, ETags and conditional requests,
the primary rate limits of REST and GraphQL (``X-RateLimit-*`` headers, 403 when
spent), GitHub's secondary limits (:mod:`.secondary`) and injected ones, the paths
under ``/repositories/{id}``, token checks, latency, 502 faults and dropped connections.

``/_emulator/`` routes inspect and steer it (stats, touch items, change config).
"""
import asyncio
import base64
import bisect
import contextlib
import dataclasses
import datetime
import hashlib
import json
import math
import random
import signal
import time
from typing import Callable, Iterator, List, Optional, Tuple

from aiohttp import web

from .. import background
from ..atomic import write_text
from ..http_limits import BodyTimeout, read_body, start_site
from ..records import shared_data
from . import graphql, secondary
from .config import LINK_STYLES, EmulatorConfig
from .sample import GHOST, Sample, iso, label_json, node_id, repository_json, user_json

DOCS = "https://docs.github.com/rest"
LIST_DOCS = "https://docs.github.com/rest/issues/issues#list-repository-issues"
RATE_DOCS = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
SECONDARY_DOCS = ("https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                  "#about-secondary-rate-limits")
RATE_MESSAGE = ("API rate limit exceeded for user ID 1. (But here's the good news: "
                "Authenticated requests get a higher rate limit. Check out the "
                "documentation for more details.)")
SECONDARY_MESSAGE = secondary.MESSAGE
LARGE_PAGE_MESSAGE = ("Pagination with the page parameter is not supported for large "
                      "datasets, please use cursor based pagination (after/before)")
USER_LOGIN = "emulator-user"
REPO_ID = 20580498
CONFIGURABLE = ("latency_ms", "latency_spread_ms", "fault_rate", "drop_rate", "secondary_every",
                "rate_limit", "rate_reset_s", "token", "link_style", "page_offset_limit", "since_exclusive")
GRAPHQL_RATE_LIMIT = graphql.GRAPHQL_LIMIT
PUBLIC_URL = web.AppKey("public_url", str)
GRAPHQL_COST = web.RequestKey("graphql_cost", int)  # the points a GraphQL query is charged


class ApiError(Exception):
    """An error answer: status and GitHub-style JSON body."""

    def __init__(self, status: int, message: str, documentation_url: str = DOCS,
                 headers: Optional[dict] = None, **extra):
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        self.body = dict(message=message, documentation_url=documentation_url, **extra)

    def response(self) -> web.Response:
        return json_response(self.body, self.status, self.headers)


def json_response(data, status: int = 200, headers: Optional[dict] = None) -> web.Response:
    """A compact JSON response with GitHub's content type."""
    body = json.dumps(data, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def invalid(field: str, value, resource: str = "Issue") -> ApiError:
    """GitHub's 422 Validation Failed naming the offending field."""
    error = {"value": value, "resource": resource, "field": field, "code": "invalid"}
    return ApiError(422, "Validation Failed", LIST_DOCS, errors=[error])


def parse_since(value: str) -> int:
    """Epoch seconds (rounded up) of an ISO 8601 timestamp or date; naive means UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    for candidate in (text, text.replace(" ", "+")):
        try:
            moment = datetime.datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return math.ceil(moment.timestamp())
    raise invalid("since", value)


def encode_cursor(key: int, number: int) -> str:
    """Opaque cursor for the keyset position (sort key, number)."""
    return base64.urlsafe_b64encode("{}:{}".format(key, number).encode()).decode().rstrip("=")


def decode_cursor(field: str, cursor: str) -> Tuple[int, int]:
    """The (sort key, number) inside a cursor; 422 when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        key, number = raw.split(":")
        return int(key), int(number)
    except ValueError:
        raise invalid(field, cursor) from None


def int_param(query, name: str, default: int) -> int:
    """An integer query parameter; 422 when it is not an integer."""
    if name not in query:
        return default
    try:
        return int(query[name])
    except ValueError:
        raise invalid(name, query[name]) from None


def choice_param(query, name: str, allowed: Tuple[str, ...]) -> str:
    """A query parameter restricted to ``allowed`` (the first is the default)."""
    value = query.get(name, allowed[0])
    if value not in allowed:
        raise invalid(name, value)
    return value


@dataclasses.dataclass
class ListQuery:
    """The parameters of a repository issues listing."""

    state: str
    sort: str
    direction: str
    since: Optional[int]
    labels: List[str]
    per_page: int
    page: Optional[int]
    after: Optional[Tuple[int, int]]
    before: Optional[Tuple[int, int]]

    @classmethod
    def parse(cls, query) -> "ListQuery":
        """Validate GitHub's list-repository-issues parameters."""
        labels = [name.strip() for name in query.get("labels", "").split(",") if name.strip()]
        return cls(
            state=choice_param(query, "state", ("open", "closed", "all")),
            sort=lenient_choice(query, "sort", ("created", "updated", "comments")),
            direction=choice_param(query, "direction", ("desc", "asc")),
            since=parse_since(query["since"]) if "since" in query else None,
            labels=labels,
            per_page=page_size(query),
            page=max(1, int_param(query, "page", 1)) if "page" in query else None,
            after=decode_cursor("after", query["after"]) if "after" in query else None,
            before=decode_cursor("before", query["before"]) if "before" in query else None,
        )


def page_size(query) -> int:
    """``per_page`` clamped to 1..100 (default 30)."""
    return min(100, max(1, int_param(query, "per_page", 30)))


def window(sel, query: ListQuery, cursor: Optional[int]) -> Tuple[int, int]:
    """Index range [a, b) of the ascending keys ``sel`` that the requested page shows."""
    size, per_page, ascending = len(sel), query.per_page, query.direction == "asc"
    if cursor is not None:  # a cursor wins over a page number, as on GitHub
        if (query.after is not None) == ascending:  # towards higher keys
            a = bisect.bisect_right(sel, cursor)
            b = a + per_page
        else:
            b = bisect.bisect_left(sel, cursor)
            a = b - per_page
    elif query.page is not None:
        skip = (query.page - 1) * per_page
        a, b = (skip, skip + per_page) if ascending else (size - skip - per_page, size - skip)
    else:
        a, b = (0, per_page) if ascending else (size - per_page, size)
    a = min(max(a, 0), size)
    return a, min(max(b, a), size)


def link_header(links: List[Tuple[str, str]]) -> str:
    """A Link header from (rel, url) pairs."""
    return ", ".join('<{}>; rel="{}"'.format(url, rel) for rel, url in links)


def page_links(request: web.Request, page: int, last: int) -> List[Tuple[str, str]]:
    """GitHub's page-number links: prev, next, last, first."""
    url = request.url
    links = []
    if page > 1:
        links.append(("prev", str(url.update_query(page=str(page - 1)))))
    if page < last:
        links.append(("next", str(url.update_query(page=str(page + 1)))))
        links.append(("last", str(url.update_query(page=str(last)))))
    if page > 1:
        links.append(("first", str(url.update_query(page="1"))))
    return links


def cursor_link(request: web.Request, rel: str, name: str, cursor: str) -> Tuple[str, str]:
    """A cursor link: the request's URL with ``after`` or ``before`` set."""
    query = {key: value for key, value in request.query.items()
             if key not in ("page", "after", "before")}
    query[name] = cursor
    return rel, str(request.url.with_query(query))


def by_repository_id(routes: List[web.RouteDef], prefix: str) -> List[web.RouteDef]:
    """The routes under ``prefix`` again under ``/repositories/{id}``, where GitHub's links point."""
    return [web.RouteDef(route.method, r"/repositories/{repository_id:\d+}" + route.path[len(prefix):], route.handler,
                         dict(route.kwargs, name=route.kwargs["name"] + "_by_id"))
            for route in routes if route.path.startswith(prefix)]


def lenient_choice(query, name: str, allowed: Tuple[str, ...]) -> str:
    """A parameter GitHub ignores when invalid: ``allowed[0]`` then."""
    value = query.get(name, allowed[0])
    return value if value in allowed else allowed[0]


def api_base(request: web.Request) -> str:
    """The API root bodies name: ``public_url`` when configured, else as the client reached it."""
    return request.app[PUBLIC_URL] or "{}://{}".format(request.scheme, request.host)


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak comparison)."""
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag[2:] in [tag[2:] if tag.startswith("W/") else tag for tag in tags]


class Emulator:
    """The emulated GitHub: a sample repository, a rate limit, faults and counters."""

    def __init__(self, config: Optional[EmulatorConfig] = None):
        self.config = config or EmulatorConfig()
        notes = shared_data.load_notes() if self.config.use_notes else None
        self.sample = Sample(self.config.items, self.config.seed, self.config.owner,
                             self.config.repo, notes)
        self._faults = random.Random(self.config.seed + 7919)
        self._latencies = random.Random(self.config.seed + 104729)
        self._sequence = 0
        self._remaining = self.config.rate_limit
        self._graphql_remaining = GRAPHQL_RATE_LIMIT
        self._reset = time.time() + self.config.rate_reset_s
        config = self.config
        self.secondary = secondary.SecondaryLimits(
            config.secondary_window_s, config.secondary_points, config.secondary_graphql_points,
            config.secondary_cpu_s, config.secondary_graphql_cpu_s, config.secondary_concurrency)
        self.reset_stats()

    def app(self) -> web.Application:
        """The aiohttp application serving the API and the admin routes."""
        app = web.Application(middlewares=[self._middleware])
        app[PUBLIC_URL] = self.config.public_url
        repo = "/repos/{owner}/{repo}"
        issue = repo + r"/issues/{number:\d+}"
        comment = repo + r"/issues/comments/{id:\d+}"
        routes = [
            web.get(repo, self._repository, name="repo"),
            web.get(repo + "/issues", self._issues, name="issues_list"),
            web.get(issue, self._issue, name="issue"),
            web.get(issue + "/comments", self._comments, name="comments_list"),
            web.post(issue + "/comments", self._create_comment, name="comment_create"),
            web.get(comment, self._comment, name="comment"),
            web.patch(comment, self._edit_comment, name="comment_edit"),
            web.delete(comment, self._delete_comment, name="comment_delete"),
            web.get(issue + "/events", self._events, name="events_list"),
            web.get(issue + "/labels", self._labels, name="labels_list"),
            web.post(issue + "/labels", self._add_labels, name="labels_add"),
            web.put(issue + "/labels", self._set_labels, name="labels_set"),
            web.delete(issue + "/labels/{name:.+}", self._remove_label, name="label_remove"),
            web.get(repo + "/labels/{name:.+}", self._label, name="label"),
            web.get("/rate_limit", self._rate_limit, name="rate_limit"),
            web.post("/graphql", self._graphql, name="graphql"),
            web.get("/user", self._user, name="user"),
            web.get("/_emulator/stats", self._admin_stats),
            web.post("/_emulator/reset-stats", self._admin_reset_stats),
            web.post("/_emulator/touch", self._admin_touch),
            web.patch("/_emulator/config", self._admin_config),
            web.get("/_emulator/items", self._admin_items),
            web.get("/_emulator/dump", self._admin_dump),
        ]
        app.add_routes(routes + by_repository_id(routes, repo))
        return app

    # Budget, faults and statistics

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self.stats = {"requests": 0, "dropped": 0, "by_status": {}, "by_route": {}}
        self.secondary.reset_stats()

    def _count(self, route: str, status: int) -> None:
        self.stats["requests"] += 1
        for table, key in (("by_status", str(status)), ("by_route", route)):
            self.stats[table][key] = self.stats[table].get(key, 0) + 1

    def _refill(self) -> None:
        """Restore the budget once the reset time has passed; the window rolls forward."""
        now = time.time()
        if now >= self._reset:
            periods = math.floor((now - self._reset) / self.config.rate_reset_s) + 1
            self._reset += periods * self.config.rate_reset_s
            self._remaining = self.config.rate_limit
            self._graphql_remaining = GRAPHQL_RATE_LIMIT

    def _rate_headers(self, resource: str = "core") -> dict:
        limit, remaining = self._budget(resource)
        return {"X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(math.ceil(self._reset)),
                "X-RateLimit-Used": str(limit - remaining),
                "X-RateLimit-Resource": resource}

    def _budget(self, resource: str) -> Tuple[int, int]:
        """(limit, remaining) of a primary rate-limit resource: ``core`` or ``graphql``."""
        if resource == "graphql":
            return GRAPHQL_RATE_LIMIT, self._graphql_remaining
        return self.config.rate_limit, self._remaining

    def _authorized(self, request: web.Request) -> bool:
        if not self.config.token:
            return True
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() in ("token", "bearer") and value.strip() == self.config.token

    def login(self, request: web.Request) -> str:
        """The account of the request's token: ``users[token]``, else :data:`USER_LOGIN`."""
        _scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return self.config.users.get(token.strip(), USER_LOGIN)

    def _refusal(self, request: web.Request, fault_roll: float) -> Optional[ApiError]:
        """The error that answers this request before any handler runs, if any."""
        config = self.config
        if not self._authorized(request):
            return ApiError(401, "Bad credentials")
        if config.secondary_every and self._sequence % config.secondary_every == 0:
            return ApiError(403, SECONDARY_MESSAGE, SECONDARY_DOCS,
                            {"Retry-After": str(config.secondary_retry_after)})
        if fault_roll < config.fault_rate:
            return ApiError(502, "Server Error")
        self._refill()
        if self._budget(resource_of(request))[1] <= 0 and request.match_info.route.name != "rate_limit":
            return ApiError(403, RATE_MESSAGE, RATE_DOCS)
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if request.path.startswith("/_emulator/"):
            return await handle(request, handler)
        latency = self._latency()
        ticket, limited = self._admit(request, latency)
        if limited is not None:
            response = limited.response()
            response.headers.update(self._rate_headers(resource_of(request)))
            self._count(request.match_info.route.name or "unknown", response.status)
            return response
        started = time.monotonic()
        try:
            return await self._serve(request, handler, latency)
        finally:
            if ticket is not None:
                self.secondary.finish(ticket, time.monotonic() - started)

    # Secondary limits and latency

    def _latency(self) -> float:
        """This request's latency in seconds: ``latency_ms`` +- ``latency_spread_ms``, seeded."""
        config = self.config
        spread = config.latency_spread_ms * (2 * self._latencies.random() - 1) if config.latency_spread_ms else 0
        return max(0.0, config.latency_ms + spread) / 1000

    def _admit(self, request: web.Request, latency: float):
        """(ticket, None) when the secondary limits let the request through, else (None, ApiError)."""
        if not self.config.secondary_limits:
            return None, None
        resource = resource_of(request)
        cost = 1 if request.method in ("GET", "HEAD") or resource == "graphql" else 5
        ticket, refusal = self.secondary.admit(request.headers.get("Authorization", ""), resource, cost, latency)
        if refusal is None:
            return ticket, None
        headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else {}
        return None, ApiError(refusal.status, SECONDARY_MESSAGE, SECONDARY_DOCS, headers)

    async def _serve(self, request: web.Request, handler: Callable, latency: float) -> web.StreamResponse:
        if latency > 0:
            await asyncio.sleep(latency)
        self._sequence += 1
        drop_roll, fault_roll = self._faults.random(), self._faults.random()
        if drop_roll < self.config.drop_rate:
            self.stats["dropped"] += 1
            request.transport.close()
            raise asyncio.CancelledError()
        refusal = self._refusal(request, fault_roll)
        response = refusal.response() if refusal else await self._answer(request, handler)
        response.headers.update(self._rate_headers(resource_of(request)))
        self._count(request.match_info.route.name or "unknown", response.status)
        return response

    async def _answer(self, request: web.Request, handler: Callable) -> web.Response:
        """Run the handler; add the ETag, answer 304 or spend one unit of budget."""
        response = await handle(request, handler)
        if request.method == "GET" and response.status == 200:
            etag = 'W/"{}"'.format(hashlib.sha256(response.body).hexdigest())
            if etag_matches(request.headers.get("If-None-Match", ""), etag):
                return web.Response(status=304, headers={"ETag": etag})
            response.headers["ETag"] = etag
        if request.match_info.route.name == "graphql":
            self._graphql_remaining -= request.get(GRAPHQL_COST, 1)
        elif request.match_info.route.name != "rate_limit":
            self._remaining -= 1
        return response

    async def _graphql(self, request: web.Request) -> web.Response:
        """POST /graphql: the issues and pull requests with their timelines (see :mod:`.graphql`), charged
        their cost in points."""
        body = await read_json(request)
        try:
            answer, request[GRAPHQL_COST] = graphql.answer(self.sample, self.config.owner, self.config.repo, body,
                                                             self._graphql_remaining, self._reset)
        except graphql.GraphQLError as error:
            return json_response({"errors": [{"message": str(error)}]})
        return json_response(answer)

    # Repository and issues

    def _check_repo(self, request: web.Request) -> None:
        match = request.match_info
        if "repository_id" in match:
            if match["repository_id"] != str(REPO_ID):
                raise ApiError(404, "Not Found")
            return
        if "{}/{}".format(match["owner"], match["repo"]).lower() == self.config.moved_from.lower() != "":
            prefix = "/repos/{}/{}".format(match["owner"], match["repo"])
            moved = "{}/repositories/{}{}".format(api_base(request), REPO_ID, request.path_qs[len(prefix):])
            raise ApiError(self.config.moved_status, "Moved Permanently", DOCS, {"Location": moved}, url=moved)
        if (match["owner"].lower(), match["repo"].lower()) != (
                self.config.owner.lower(), self.config.repo.lower()):
            raise ApiError(404, "Not Found")

    def _number(self, request: web.Request) -> int:
        """The issue number of the path; 404 for another repo or an unknown number, 410 for a deleted item."""
        self._check_repo(request)
        number = int(request.match_info["number"])
        if not 1 <= number <= self.sample.count:
            raise ApiError(404, "Not Found")
        if number in self.sample.deleted:
            raise ApiError(410, "This issue was deleted")
        return number

    async def _repository(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        api, config = api_base(request), self.config
        owner = dict(user_json(config.owner, api), type="Organization")
        open_count = len(self.sample.sorted_keys("created", "open"))
        return json_response(repository_json(owner, config.repo, REPO_ID, api, open_count, 1401580800,
                                             int(time.time())))

    async def _issues(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        query = ListQuery.parse(request.query)
        if query.page is None and not (query.after or query.before) and self.config.link_style == "page":
            query.page = 1
        sample, modulus = self.sample, self.sample.modulus
        sel = self._selection(query)
        size = len(sel)
        position = query.after or query.before
        if position is None and query.page is not None and self._too_deep(query, size):  # a cursor wins
            raise ApiError(422, LARGE_PAGE_MESSAGE, LIST_DOCS)
        cursor = position[0] * modulus + position[1] if position else None
        a, b = window(sel, query, cursor)
        keys = list(sel[a:b]) if query.direction == "asc" else list(reversed(sel[a:b]))
        api = api_base(request)
        items = [sample.item(key % modulus, api) for key in keys]
        if query.page is not None and position is None:
            links = page_links(request, query.page, max(1, math.ceil(size / query.per_page)))
        else:
            links = self._cursor_links(request, query, keys, a > 0, b < size)
        return json_response(items, headers={"Link": link_header(links)} if links else None)

    def _too_deep(self, query: ListQuery, size: int) -> bool:
        """Whether a page-numbered request gets the large-dataset 422."""
        limit = self.config.page_offset_limit
        if limit > 0:
            return (query.page - 1) * query.per_page >= limit
        return query.page >= 100 and size > self.config.large_listing

    def _selection(self, query: ListQuery):
        """Ascending composite keys of the items the listing's filters keep."""
        sample, modulus = self.sample, self.sample.modulus
        keys = sample.sorted_keys(query.sort, query.state)
        start = 0
        since = None if query.since is None else query.since + int(self.config.since_exclusive)
        if since is not None and query.sort == "updated":
            start = bisect.bisect_left(keys, since * modulus)
        checks = []
        if since is not None and query.sort != "updated":
            updated = sample.updated
            checks.append(lambda number: updated[number] >= since)
        if query.labels:
            wanted = set(query.labels)
            checks.append(lambda number: wanted.issubset(sample.labels(number)))
        if not checks:
            return keys[start:]
        return [key for key in keys[start:]
                if all(check(key % modulus) for check in checks)]

    def _cursor_links(self, request: web.Request, query: ListQuery, keys: List[int],
                      more_below: bool, more_above: bool) -> List[Tuple[str, str]]:
        """rel=prev/next links carrying ``before``/``after`` cursors of the page's ends."""
        if not keys:
            return []
        modulus = self.sample.modulus
        has_next, has_prev = ((more_above, more_below) if query.direction == "asc"
                              else (more_below, more_above))
        links = []
        if has_prev:
            first = keys[0]
            links.append(cursor_link(request, "prev", "before",
                                     encode_cursor(first // modulus, first % modulus)))
        if has_next:
            last = keys[-1]
            links.append(cursor_link(request, "next", "after",
                                     encode_cursor(last // modulus, last % modulus)))
        return links

    async def _issue(self, request: web.Request) -> web.Response:
        number = self._number(request)
        return json_response(self.sample.item(number, api_base(request), detail=True))

    # Comments

    async def _comments(self, request: web.Request) -> web.Response:
        number = self._number(request)
        ids = self.sample.comment_ids(number)
        per_page = page_size(request.query)
        page = max(1, int_param(request.query, "page", 1))
        api = api_base(request)
        shown = ids[(page - 1) * per_page:page * per_page]
        links = page_links(request, page, max(1, math.ceil(len(ids) / per_page)))
        return json_response([self.sample.comment(cid, api) for cid in shown],
                             headers={"Link": link_header(links)} if links else None)

    async def _create_comment(self, request: web.Request) -> web.Response:
        number = self._number(request)
        body = await self._comment_body(request)
        comment_id = self.sample.add_comment(number, body, self.login(request), time.time())
        return json_response(self.sample.comment(comment_id, api_base(request)), 201)

    async def _comment_body(self, request: web.Request) -> str:
        data = await read_json(request)
        if not isinstance(data, dict) or not isinstance(data.get("body"), str):
            raise invalid("body", None, "IssueComment")
        return data["body"]

    def _comment_id(self, request: web.Request) -> int:
        self._check_repo(request)
        return int(request.match_info["id"])

    async def _comment(self, request: web.Request) -> web.Response:
        comment = self.sample.comment(self._comment_id(request), api_base(request))
        if comment is None:
            raise ApiError(404, "Not Found")
        return json_response(comment)

    async def _edit_comment(self, request: web.Request) -> web.Response:
        comment_id = self._comment_id(request)
        if not self.sample.edit_comment(comment_id, await self._comment_body(request),
                                        time.time()):
            raise ApiError(404, "Not Found")
        return json_response(self.sample.comment(comment_id, api_base(request)))

    async def _delete_comment(self, request: web.Request) -> web.Response:
        if not self.sample.delete_comment(self._comment_id(request), time.time()):
            raise ApiError(404, "Not Found")
        return web.Response(status=204)

    # Issue events

    async def _events(self, request: web.Request) -> web.Response:
        """GitHub's "list issue events": the item's labeled/unlabeled events, oldest first, by page."""
        number = self._number(request)
        events = self.sample.label_events(number)
        per_page = page_size(request.query)
        page = max(1, int_param(request.query, "page", 1))
        api, first = api_base(request), (page - 1) * per_page
        repo_api = "{}/repos/{}/{}".format(api, self.config.owner, self.config.repo)
        shown = [issue_event(event, number * 100_000 + first + i, repo_api, api)
                 for i, event in enumerate(events[first:page * per_page])]
        links = page_links(request, page, max(1, math.ceil(len(events) / per_page)))
        return json_response(shown, headers={"Link": link_header(links)} if links else None)

    # Labels

    def _labels_response(self, request: web.Request, number: int) -> web.Response:
        repo_api = "{}/repos/{}/{}".format(api_base(request), self.config.owner,
                                           self.config.repo)
        return json_response([label_json(name, repo_api)
                              for name in self.sample.labels(number)])

    async def _label(self, request: web.Request) -> web.Response:
        """A label of the repository, or 404."""
        name = request.match_info["name"]
        if not self.sample.has_label(name):
            raise ApiError(404, "Not Found")
        return json_response(label_json(name, "{}/repos/{}/{}".format(api_base(request), self.config.owner,
                                                                        self.config.repo)))

    async def _labels(self, request: web.Request) -> web.Response:
        return self._labels_response(request, self._number(request))

    async def _label_names(self, request: web.Request) -> List[str]:
        """Label names from a ``{"labels": [...]}`` object or a plain JSON list."""
        data = await read_json(request)
        names = data.get("labels") if isinstance(data, dict) else data
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise invalid("labels", names, "Label")
        return names

    async def _add_labels(self, request: web.Request) -> web.Response:
        number = self._number(request)
        names = await self._label_names(request)
        self.sample.set_labels(number, self.sample.labels(number) + names, time.time(), self.login(request))
        return self._labels_response(request, number)

    async def _set_labels(self, request: web.Request) -> web.Response:
        number = self._number(request)
        self.sample.set_labels(number, await self._label_names(request), time.time(), self.login(request))
        return self._labels_response(request, number)

    async def _remove_label(self, request: web.Request) -> web.Response:
        number = self._number(request)
        name = request.match_info["name"]
        labels = self.sample.labels(number)
        if name not in labels:
            raise ApiError(404, "Label does not exist",
                           "https://docs.github.com/rest/issues/labels"
                           "#remove-a-label-from-an-issue")
        labels.remove(name)
        self.sample.set_labels(number, labels, time.time(), self.login(request))
        return self._labels_response(request, number)

    # Account

    async def _rate_limit(self, request: web.Request) -> web.Response:
        self._refill()
        core = {"limit": self.config.rate_limit, "remaining": self._remaining,
                "reset": math.ceil(self._reset),
                "used": self.config.rate_limit - self._remaining, "resource": "core"}
        search = {"limit": 30, "remaining": 30, "reset": math.ceil(time.time()) + 60,
                  "used": 0, "resource": "search"}
        graphql = dict(core, limit=GRAPHQL_RATE_LIMIT, remaining=self._graphql_remaining,
                       used=GRAPHQL_RATE_LIMIT - self._graphql_remaining, resource="graphql")
        return json_response({"resources": {"core": core, "search": search,
                                            "graphql": graphql}, "rate": core})

    async def _user(self, request: web.Request) -> web.Response:
        """GET /user: the token's account, as a public-user object."""
        return json_response(dict(user_json(self.login(request), api_base(request)), name="Emulator User", company=None,
                                  blog="", location=None, email=None, hireable=None, bio=None, public_repos=1,
                                  public_gists=0, followers=0, following=0, created_at=iso(1401580800),
                                  updated_at=iso(1401580800)))

    # Admin

    async def _admin_stats(self, request: web.Request) -> web.Response:
        self._refill()
        return json_response(dict(self.stats, rate_remaining=self._remaining,
                                  graphql_remaining=self._graphql_remaining, **self.secondary.stats))

    async def _admin_reset_stats(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return json_response(self.stats)

    async def _admin_touch(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        count = self.sample.count
        if isinstance(data, dict) and "numbers" in data:
            numbers = data["numbers"]
        elif isinstance(data, dict) and isinstance(data.get("count"), int):
            numbers = random.Random(data.get("seed", 0)).sample(
                range(1, count + 1), min(data["count"], count))
        else:
            raise ApiError(422, 'expected {"numbers": [...]} or {"count": N, "seed": S}')
        if not all(isinstance(n, int) and 1 <= n <= count for n in numbers):
            raise ApiError(422, "numbers must be item numbers 1..{}".format(count))
        now = time.time()
        for number in numbers:
            self.sample.touch(number, now)
        return json_response({"numbers": sorted(numbers)})

    async def _admin_config(self, request: web.Request) -> web.Response:
        data = await read_json(request)
        if not isinstance(data, dict) or not set(data) <= set(CONFIGURABLE):
            raise ApiError(422, "configurable fields: " + ", ".join(CONFIGURABLE))
        if data.get("link_style", LINK_STYLES[0]) not in LINK_STYLES:
            raise ApiError(422, "link_style must be one of: " + ", ".join(LINK_STYLES))
        for name, value in data.items():
            setattr(self.config, name, value)
        if "rate_limit" in data or "rate_reset_s" in data:
            self._remaining = self.config.rate_limit
            self._reset = time.time() + self.config.rate_reset_s
        return json_response(dataclasses.asdict(self.config))

    async def _admin_items(self, request: web.Request) -> web.Response:
        updated = self.sample.updated
        return json_response({"count": self.sample.count, "items": {
            number: iso(updated[number]) for number in range(1, self.sample.count + 1)}})

    async def _admin_dump(self, request: web.Request) -> web.Response:
        api = api_base(request)
        return json_response([self.sample.item(number, api)
                              for number in range(1, self.sample.count + 1)])


def issue_event(event: dict, ident: int, repo_api: str, api: str) -> dict:
    """A labeled/unlabeled issue event as GitHub serves it; a deleted account's events are ghost's."""
    actor = user_json(event["actor"] or GHOST, api)
    if actor["login"].endswith("[bot]"):
        actor["type"] = "Bot"
    return {"id": ident, "node_id": node_id("LabeledEvent", ident), "url": "{}/issues/events/{}".format(repo_api, ident),
            "actor": actor, "event": event["event"], "commit_id": None, "commit_url": None,
            "created_at": iso(event["created_at"]), "performed_via_github_app": None,
            "label": {"name": event["label"], "color": label_json(event["label"], repo_api)["color"]}}


def resource_of(request: web.Request) -> str:
    """The rate-limit resource a request is charged to: ``graphql`` or ``core``."""
    return "graphql" if request.match_info.route.name == "graphql" else "core"


async def handle(request: web.Request, handler: Callable) -> web.Response:
    """Run a handler, turning errors into GitHub-style JSON answers."""
    try:
        return await handler(request)
    except ApiError as error:
        return error.response()
    except web.HTTPException as error:
        return ApiError(error.status, error.reason).response()


async def read_json(request: web.Request):
    """The request's JSON body; 400 "Problems parsing JSON" when it is not JSON."""
    try:
        return json.loads(await read_body(request))
    except (ValueError, RecursionError):
        raise ApiError(400, "Problems parsing JSON") from None
    except BodyTimeout as error:
        raise ApiError(408, str(error)) from None


# Running the server


@dataclasses.dataclass
class Running:
    """A server started by :func:`running`: its base URL and its :class:`Emulator`."""

    url: str
    emulator: Emulator


async def _start(emulator: Emulator, host: str, port: int) -> web.AppRunner:
    """Bind and start serving; the bound port is ``runner.addresses[0][1]``."""
    return await start_site(emulator.app(), host, port, shutdown_timeout=1.0)


@contextlib.contextmanager
def running(config: Optional[EmulatorConfig] = None,
            host: str = "127.0.0.1") -> Iterator[Running]:
    """Serve an emulator on a free port from a background thread.

    Yields a :class:`Running` (``.url`` like ``http://127.0.0.1:54321`` and
    ``.emulator``); the server stops when the block exits.
    """
    emulator = Emulator(config)
    with background.in_thread(lambda: _start(emulator, host, 0), "github-emulator") as (_, runner):
        yield Running("http://{}:{}".format(host, runner.addresses[0][1]), emulator)


async def serve_forever(emulator: Emulator, host: str, port: int, portfile: Optional[str] = None) -> None:
    """Serve on ``host:port`` (0: a free port) until SIGTERM or SIGINT; write the bound port to ``portfile``."""
    runner = await _start(emulator, host, port)
    port = runner.addresses[0][1]
    try:
        if portfile:
            write_text(portfile, f"{port}\n")
        print("GitHub emulator: http://{}:{} ({} items)".format(
            host, port, emulator.sample.count), flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()

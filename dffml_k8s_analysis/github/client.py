"""Talking to the GitHub REST API (or the emulator).

The export's requests go through :mod:`.transport` (requests and urllib3: retries of 5xx and
dropped connections, redirects on the API's host only, bounded bodies); the bot's few calls
through PyGithub's objects (:func:`connect`). What is ours: pacing every export request under
GitHub's secondary limits (:mod:`.pacing`) and waiting out its rate-limit answers (secondary:
``Retry-After`` or a backoff, with no request leaving meanwhile; primary: the reset),
conditional requests, and one clear error per failure, GitHub's text scrubbed of the token
(:mod:`.listing` walks the issues listing).
"""
import contextlib
import itertools
import logging
import math
import os
import re
import threading
import time
import urllib.parse
from email.utils import parsedate_to_datetime
from typing import Dict, List, Optional, Tuple

import github
import github.Requester
import requests
import urllib3.exceptions
from urllib3.util import Retry

from .. import timeutil
from ..secret_file import SecretFileError, read_secret
from . import pacing, transport
from .errors import GitHubError
from .transport import Api, BoundedHTTP, BoundedHTTPS

LOGGER = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.github.com"
TOKEN_ENV = "GITHUB_TOKEN"
TOKEN_FILE_ENV = "GITHUB_TOKEN_FILE"  # a file holding the token (a mounted Secret), when GITHUB_TOKEN is unset
TIMEOUT_ENV = "GITHUB_TIMEOUT"
DEFAULT_TIMEOUT = 20
READ_RETRIES = 4  # a stalled or dropped response is retried this often, then reported
# Rate-limit answers in a row before a request fails (waits: Retry-After, or 1, 2, 4, ... windows)
MAX_LIMITED_ATTEMPTS = 8
SECONDARY_WAIT = 60  # GitHub: without Retry-After, wait at least a minute
MAX_RESET_WAIT = 3601  # GitHub's primary limits reset within the hour, whatever a header says


class Budget:
    """Primary rate-limit budgets seen in response headers, per resource, shared by a process's threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen: Dict[str, Tuple[int, Optional[int], float]] = {}  # resource -> remaining, limit, reset
        self.logged: Dict[str, float] = {}  # resource -> the reset last waited for
        self.requests = 0

    @property
    def remaining(self) -> Optional[int]:
        return self.seen.get("core", (None,))[0]

    @property
    def limit(self) -> Optional[int]:
        return self.seen.get("core", (None, None))[1]

    def record(self, headers: Dict[str, str]) -> None:
        with self.lock:
            self.requests += 1
            if "x-ratelimit-remaining" in headers:
                try:  # a server's headers are not trusted: unreadable ones are ignored
                    seen = (int(headers["x-ratelimit-remaining"]), int(headers.get("x-ratelimit-limit", 0)) or None,
                            float(headers.get("x-ratelimit-reset", 0)))
                except ValueError:
                    return
                if not math.isfinite(seen[2]):  # "nan", "inf": no time to wait for
                    return
                self.seen[headers.get("x-ratelimit-resource", "core")] = seen

    def resets_later(self, resource: str) -> bool:
        """Whether the last response said the budget is spent and named a reset still to come."""
        with self.lock:
            remaining, _, reset = self.seen.get(resource, (None, None, 0.0))
            return remaining == 0 and reset > time.time()

    def wait_if_spent(self, resource: str = "core") -> None:
        """Sleep until the reset when the last response said the budget is spent."""
        with self.lock:
            remaining, _, reset = self.seen.get(resource, (None, None, 0.0))
            delay = min(reset - time.time() + 1, MAX_RESET_WAIT) if remaining == 0 else 0
            first = delay > 0 and self.logged.get(resource) != reset  # one line per reset, not per thread
            if first:
                self.logged[resource] = reset
        if delay > 0:
            if first:
                LOGGER.warning("%s rate limit spent: waiting %.0f s for the reset", resource, delay)
            time.sleep(delay)
            with self.lock:
                self.seen.pop(resource, None)


# GitHub's rules: a login is letters, digits and inner hyphens (at most 39); a
# repository name letters, digits, '.', '-' and '_' (at most 100), never '.' or '..'.
REPO_NAME = re.compile(r"(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?)/(?P<name>[A-Za-z0-9._-]{1,100})")


def split_repo(repo: str) -> Tuple[str, str]:
    """Check ``OWNER/NAME`` against GitHub's rules for names and split it.

    Every entry point calls it (options, dataflow inputs, webhook payloads), so a
    name never becomes a path or a query: ``../..``, ``a/b?x=1``, ``a/b#f`` fail.
    """
    match = REPO_NAME.fullmatch(repo) if isinstance(repo, str) else None
    if match is None or match["name"] in (".", ".."):
        raise GitHubError(f"repository must be OWNER/NAME (letters, digits, '-'; also '.', '_' in NAME), "
                          f"got {repo!r}")
    return match["owner"], match["name"]


def check_repo(name: str) -> str:
    """``name`` when it is a GitHub ``OWNER/NAME`` (see :func:`split_repo`); GitHubError otherwise."""
    split_repo(name)
    return name


def check_base_url(base_url: str) -> str:
    """``base_url`` if it is an http(s) URL with a host, else a one-line GitHubError."""
    try:
        parts = urllib.parse.urlsplit(base_url) if isinstance(base_url, str) else None
        valid = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
        valid = valid and (parts.port is None or parts.port > 0)
    except ValueError:
        valid = False
    if not valid:
        raise GitHubError(f"the base URL must be http(s)://HOST[:PORT][/PATH], like {DEFAULT_BASE_URL}, "
                          f"got {base_url!r}")
    return base_url


def default_timeout() -> int:
    """Seconds to wait for a response: GITHUB_TIMEOUT, else DEFAULT_TIMEOUT."""
    value = os.environ.get(TIMEOUT_ENV) or str(DEFAULT_TIMEOUT)
    if not value.isdigit() or int(value) < 1:
        raise GitHubError(f"{TIMEOUT_ENV} must be a whole number of seconds, at least 1, got {value!r}")
    return int(value)


def token_source() -> str:
    """Where the token comes from, for error messages: ``GITHUB_TOKEN`` or ``GITHUB_TOKEN_FILE (PATH)``."""
    if os.environ.get(TOKEN_ENV) or not os.environ.get(TOKEN_FILE_ENV):
        return TOKEN_ENV
    return f"{TOKEN_FILE_ENV} ({os.environ[TOKEN_FILE_ENV]})"


def token() -> Optional[str]:
    """The token from ``GITHUB_TOKEN``, else from the file ``GITHUB_TOKEN_FILE`` names, else None.

    The file holds the token alone (surrounding whitespace is dropped); a file that cannot be read,
    or is empty, is a GitHubError naming the path, never the content.
    """
    value = os.environ.get(TOKEN_ENV)
    if value:
        return value
    try:
        return read_secret(TOKEN_FILE_ENV, "token")
    except SecretFileError as error:
        raise GitHubError(str(error)) from None


class BoundedRetry(github.GithubRetry):
    """GithubRetry whose waits for a rate limit, ``Retry-After`` included, are at most ``max_rate_limit_wait``:
    a longer one raises RateLimitExceededExceedsMaxWait, its ``wait`` for the caller to schedule; an unreadable one is
    none."""

    def get_retry_after(self, response):
        try:
            after = super().get_retry_after(response)
        except urllib3.exceptions.InvalidHeader:  # "1e9", "soon": waited like none (the backoff), not "cannot reach"
            return None
        if after is not None and self.max_rate_limit_wait is not None and after > self.max_rate_limit_wait:
            raise github.RateLimitExceededExceedsMaxWait(response.status, None, dict(response.headers), wait=after)
        return after


def _secret(base_url: str) -> Optional[str]:
    """The token for ``base_url``: api.github.com without one is refused (60 requests an hour export nothing);
    other servers (Enterprise, the emulator) may allow anonymous access."""
    check_base_url(base_url)
    secret = token()
    if secret is None and base_url.rstrip("/") == DEFAULT_BASE_URL:
        raise GitHubError(f"{TOKEN_ENV} is not set: create a token and export {TOKEN_ENV}=..., or name a file "
                          f"holding it in {TOKEN_FILE_ENV} (it is never logged)")
    return secret


def _backoff(retries: int) -> dict:
    """urllib3 Retry settings: refused connections fail fast (a wrong URL should not hang for minutes);
    dropped ones, stalled answers (READ_RETRIES) and 5xx are retried with backoff."""
    return dict(total=retries, connect=2, read=READ_RETRIES, backoff_factor=0.5, backoff_max=30,
                raise_on_status=False, status_forcelist=list(range(500, 600)))


def connect(base_url: str = DEFAULT_BASE_URL, timeout: Optional[int] = None, retries: int = 10,
            max_wait: Optional[float] = None) -> github.Github:
    """A PyGithub client for ``base_url`` with the token of :func:`token`, for the bot's few calls.

    A server that does not answer within ``timeout`` seconds (default :func:`default_timeout`) is
    retried READ_RETRIES times, then reported; ``retries``: tries again after a 5xx, a 429 or a
    dropped connection; once they are spent, the last answer is the error ("GitHub answered 502").
    PyGithub's GithubRetry waits out rate-limit answers: Retry-After, else at least 60 s, then backing off;
    ``max_wait``: a longer wait is not waited but raised (RateLimitExceededExceedsMaxWait, its ``wait``),
    for a queue to schedule.
    """
    secret = _secret(base_url)
    backoff = _backoff(retries)
    # its requests through the export's bounds (transport.exchange): PyGithub alone reads whole bodies and
    # takes one that is not JSON as data (connections kept per thread and host: PyGithub keeps none for them)
    github.Requester.Requester.injectConnectionClasses(BoundedHTTP, BoundedHTTPS)
    # PyGithub's methods plus PATCH: the bot's only PATCH, a comment's edit, is idempotent
    retry = BoundedRetry(secondary_rate_wait=SECONDARY_WAIT, max_rate_limit_wait=max_wait,
                         allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST", "PATCH"},
                         **dict(backoff, status_forcelist=backoff["status_forcelist"] + [429]))
    return github.Github(
        auth=github.Auth.Token(secret) if secret else None,
        base_url=base_url.rstrip("/"),
        timeout=timeout or default_timeout(),
        retry=retry,
        seconds_between_requests=None,
        seconds_between_writes=None,
        per_page=100,
        lazy=True,
    )


def api(base_url: str = DEFAULT_BASE_URL, timeout: Optional[int] = None, retries: int = 10) -> Api:
    """The export's client for ``base_url`` (see :mod:`.transport`), for :func:`get_json` and :func:`graphql`,
    which pace requests and wait out rate-limit answers themselves (so urllib3 retries no 403 or 429)."""
    retry = Retry(allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST"}, respect_retry_after_header=False,
                  **_backoff(retries))
    return Api(base_url, _secret(base_url), timeout or default_timeout(), retry)


def get_json(client: Api, budget: Budget, url: str, params=None, etag=None):
    """GET ``url``; return (headers, data), data None on 304. Errors become GitHubError."""
    headers = {"If-None-Match": etag} if etag else None

    return _request(client, budget, url, lambda: client.request("GET", url, params, headers))


def graphql(client: Api, budget: Budget, query: str, variables: dict, what: str = "a GraphQL query") -> dict:
    """POST a GraphQL query; return its ``data``. Errors, even beside data, become GitHubError."""
    data, errors = graphql_answer(client, budget, query, variables, what)
    if errors:
        raise graphql_error(errors, what)
    return data


def graphql_answer(client: Api, budget: Budget, query: str, variables: dict,
                   what: str = "a GraphQL query") -> Tuple[dict, List[dict]]:
    """POST a GraphQL query; return its ``data`` and the ``errors`` GitHub put beside it (fields it could not
    resolve, e.g. a deleted item); an answer without data is a GitHubError naming ``what``.

    Paced on GraphQL's own budget: a query costs 1 point, a mutation 5.
    """
    cost = 5 if query.lstrip().startswith("mutation") else 1

    def call():
        return client.request("POST", client.graphql_url, body={"query": query, "variables": variables})

    _headers, answer = _request(client, budget, client.graphql_url, call, "graphql", cost)
    errors = answer.get("errors") if isinstance(answer, dict) else None
    errors = [e if isinstance(e, dict) else {"message": str(e)} for e in errors] if isinstance(errors, list) else []
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
        if errors:
            raise graphql_error(errors, what)
        raise GitHubError(f"{client.base_url} answered {_path(client.graphql_url)} without GraphQL's data")
    return answer["data"], errors


# GraphQL errors (status 200) that a later retry can get past: GitHub's limits and its own failures
TRANSIENT_GRAPHQL = {"RATE_LIMITED", "INTERNAL", "SERVICE_UNAVAILABLE", "TIMEOUT"}


def graphql_error(errors: List[dict], what: str) -> GitHubError:
    """GitHub's GraphQL ``errors`` as one line naming the query; transient when each is one retrying can help."""
    messages = "; ".join(dict.fromkeys(str(e.get("message", "no message"))[:300] for e in errors[:5]))
    transient = all(e.get("type") in TRANSIENT_GRAPHQL or "Something went wrong" in str(e.get("message"))
                    for e in errors)
    return GitHubError(scrub(f"GitHub's GraphQL API refused {what}: {messages}"), transient)


def pacer_of(client: Api) -> pacing.Pacer:
    """The process's pacer for this client's API root and token."""
    return pacing.pacer_for(client.base_url, client.secret)


def _request(client: Api, budget: Budget, url: str, call, resource: str = "core", cost: float = 1):
    pacer, what = pacer_of(client), _path(url)
    for attempt in itertools.count(1):
        budget.wait_if_spent(resource)
        with translated(what, client.base_url, client.timeout):
            try:
                with pacer.request(resource, cost):
                    answer = call()  # the transport tells the pacer its time to headers (pacing.answered)
            except github.GithubException as error:
                if attempt == MAX_LIMITED_ATTEMPTS or not _rate_limited(error, pacer, budget, what):
                    raise
                continue
        pacer.succeeded()
        budget.record(answer.headers)
        return answer.headers, answer.data


def _rate_limited(error: github.GithubException, pacer: pacing.Pacer, budget: Budget, what: str) -> bool:
    """Whether ``error`` is a rate-limit answer; if so, note it so the next attempt waits."""
    if error.status not in (403, 429):
        return False
    headers = {key.lower(): value for key, value in (error.headers or {}).items()}
    budget.record(headers)
    if headers.get("x-ratelimit-remaining") == "0":  # primary: wait_if_spent waits for the reset
        if not budget.resets_later(headers.get("x-ratelimit-resource", "core")):  # none ahead: back off
            pacer.secondary_limit(error.status, None, what)
        return True
    message = error.data.get("message", "") if isinstance(error.data, dict) else ""
    if error.status == 429 or "retry-after" in headers or github.Requester.Requester.isSecondaryRateLimitError(
            message if isinstance(message, str) else ""):
        wait = pacing.retry_after_s(headers.get("retry-after"))
        if wait is not None and wait > MAX_RESET_WAIT:
            raise GitHubError(f"GitHub asked for a wait of {wait:.0f} s before {what} (Retry-After), longer than "
                              "its limits last: rerun later", transient=True)
        pacer.secondary_limit(error.status, wait, what)
        return True
    return False


def scrub(text: str) -> str:
    """``text`` (GitHub's, or a hostile server's) with the token, if any, replaced by ``***``: in any letter case,
    any of its characters percent-encoded."""
    try:
        secret = token()
    except GitHubError:
        secret = None
    if not secret:
        return text
    spelled = "".join(f"(?:{re.escape(c)}|%{byte:02x})" for c in secret for byte in [ord(c)] if byte < 128)
    if len(spelled) < len(secret):  # not ASCII: no other spelling is looked for
        return text.replace(secret, "***")
    return re.sub(spelled, "***", text, flags=re.IGNORECASE)


def limited(error: github.GithubException) -> bool:
    """Whether ``error`` is GitHub's rate limit: PyGithub's kind, a 429, or a 403 with Retry-After or no budget left
    (GitHub's documented signs, whatever its message says)."""
    headers = {key.lower(): value for key, value in (error.headers or {}).items()}
    return isinstance(error, github.RateLimitExceededException) or error.status == 429 or (
        error.status == 403 and ("retry-after" in headers or headers.get("x-ratelimit-remaining") == "0"))


@contextlib.contextmanager
def translated(what: str, unreachable: str, timeout: Optional[int] = None, tries: int = READ_RETRIES + 1):
    """PyGithub's and the HTTP stack's exceptions about ``what`` as one-line GitHubErrors.

    ``unreachable`` names what could not be reached when the connection fails;
    ``timeout``: the client's seconds per read (default :func:`default_timeout`); ``tries``: of a request that
    timed out, for the message.
    """
    try:
        yield
    except github.BadCredentialsException:
        raise GitHubError(f"GitHub rejected the token in {token_source()} (401 Bad credentials)") from None
    except github.UnknownObjectException:
        raise GitHubError(f"not found: {what} (check the repository name and the token's access)") from None
    except github.GithubException as error:
        if not (isinstance(error.data, dict) and "message" in error.data):
            raise GitHubError(f"{unreachable} answered {error.status} to {what} without GitHub's error body: "
                              "is it a GitHub API root (https://api.github.com, https://HOST/api/v3)?",
                              error.status >= 500, error.status) from None
        message = error.data.get("message")
        if isinstance(error.data.get("errors"), list):
            message = "; ".join(str(e.get("message", e) if isinstance(e, dict) else e) for e in error.data["errors"])
        transient = error.status >= 500 or limited(error)
        raise GitHubError(scrub(f"GitHub answered {error.status} to {what}: {message}"), transient,
                          error.status) from None
    except GitHubError as error:
        raise GitHubError(scrub(str(error)), error.transient, error.status) from None
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
        if transport.too_slow(error):
            raise GitHubError(f"{unreachable} did not send a whole answer within "
                              f"{transport.answer_s(timeout or default_timeout()):g} s, {tries} times: "
                              "retry later", transient=True) from None
        if _timed_out(error):
            raise GitHubError(f"{unreachable} did not answer within {timeout or default_timeout()} s, {tries} times: "
                              f"check the URL, or retry later ({TIMEOUT_ENV} sets the wait)", transient=True) from None
        raise GitHubError(f"cannot reach {unreachable}: {type(error).__name__}", transient=True) from None


def _timed_out(error: BaseException) -> bool:
    """Whether a request failed because the server sent no answer in time (behind requests' wrappers)."""
    if isinstance(error, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError)):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, urllib3.exceptions.ReadTimeoutError)


def server_time(headers: Dict[str, str]) -> str:
    """The server's clock from a response's Date header, as ``YYYY-MM-DDTHH:MM:SSZ``."""
    try:
        moment = parsedate_to_datetime(headers["date"])
    except (KeyError, TypeError, ValueError):  # none, or not a date: the local clock
        moment = timeutil.now()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timeutil.UTC)
    return timeutil.format(moment)


def _path(url: str) -> str:
    return url.split("?")[0]

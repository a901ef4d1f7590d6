"""Talking to the GitHub REST API (or the emulator) through PyGithub.

PyGithub does the HTTP, authentication, retries (5xx, dropped connections,
secondary limits with Retry-After, a spent primary budget until its reset).
What is ours: conditional requests, waiting *before* a request when the
budget is already spent, and one clear error per failure (:mod:`.listing`
walks the issues listing).
"""
import contextlib
import datetime
import logging
import os
import re
import threading
import time
import urllib.parse
from email.utils import parsedate_to_datetime
from typing import Dict, Optional, Tuple

import github
import requests
import urllib3.exceptions

LOGGER = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.github.com"
TOKEN_ENV = "GITHUB_TOKEN"
TIMEOUT_ENV = "GITHUB_TIMEOUT"
DEFAULT_TIMEOUT = 20
READ_RETRIES = 4  # a stalled or dropped response is retried this often, then reported


class GitHubError(Exception):
    """A failure worth one clear line to the user (never holds the token).

    ``transient``: worth trying again later (5xx, rate limits, lost connections);
    ``status``: the HTTP status GitHub answered, if it answered.
    """

    def __init__(self, message: str, transient: bool = False, status: Optional[int] = None):
        super().__init__(message)
        self.transient, self.status = transient, status


class Budget:
    """Rate-limit budget seen in response headers, shared by a process's threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.remaining: Optional[int] = None
        self.limit: Optional[int] = None
        self.reset: float = 0.0
        self.requests = 0

    def record(self, headers: Dict[str, str]) -> None:
        with self.lock:
            self.requests += 1
            if "x-ratelimit-remaining" in headers:
                self.remaining = int(headers["x-ratelimit-remaining"])
                self.limit = int(headers.get("x-ratelimit-limit", 0)) or None
                self.reset = float(headers.get("x-ratelimit-reset", 0))

    def wait_if_spent(self) -> None:
        """Sleep until the reset when the last response said the budget is spent."""
        with self.lock:
            delay = self.reset - time.time() + 1 if self.remaining == 0 else 0
        if delay > 0:
            LOGGER.warning("rate limit spent: waiting %.0f s for the reset", delay)
            time.sleep(delay)
            with self.lock:
                self.remaining = None


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


def connect(base_url: str = DEFAULT_BASE_URL, timeout: Optional[int] = None, retries: int = 10) -> github.Github:
    """A PyGithub client for ``base_url`` with the token from ``GITHUB_TOKEN``.

    api.github.com without a token is refused up front: 60 requests an hour
    cannot export anything. Other servers (Enterprise, the emulator) may allow
    anonymous access. A server that does not answer within ``timeout`` seconds (default
    :func:`default_timeout`) is retried READ_RETRIES times, then reported; ``retries``: tries
    again after a 5xx, a 429 or a dropped connection; once they are spent, the last answer is
    the error ("GitHub answered 502").
    """
    check_base_url(base_url)
    token = os.environ.get(TOKEN_ENV) or None
    if token is None and base_url.rstrip("/") == DEFAULT_BASE_URL:
        raise GitHubError(f"{TOKEN_ENV} is not set: create a token and export {TOKEN_ENV}=... (it is never logged)")
    # Refused connections fail fast (a wrong URL should not hang for minutes);
    # dropped ones, 5xx and rate limits are retried with backoff.
    retry = github.GithubRetry(
        total=retries,
        connect=2,
        read=READ_RETRIES,
        backoff_factor=0.5,
        backoff_max=30,
        status_forcelist=list(range(500, 600)) + [429],
        secondary_rate_wait=5,
        raise_on_status=False,
        # PyGithub's methods plus PATCH: the bot's only PATCH, a comment's edit, is idempotent
        allowed_methods=urllib3.util.Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST", "PATCH"},
    )
    return github.Github(
        auth=github.Auth.Token(token) if token else None,
        base_url=base_url.rstrip("/"),
        timeout=timeout or default_timeout(),
        retry=retry,
        seconds_between_requests=None,
        seconds_between_writes=None,
        per_page=100,
        lazy=True,
    )


def get_json(gh: github.Github, budget: Budget, url: str, params=None, etag=None):
    """GET ``url``; return (headers, data), data None on 304. Errors become GitHubError."""
    headers = {"If-None-Match": etag} if etag else None
    return _request(gh, budget, url, lambda: gh.requester.requestJsonAndCheck("GET", url, params, headers))


def graphql(gh: github.Github, budget: Budget, query: str, variables: dict) -> dict:
    """POST a GraphQL query; return its ``data``. Errors become GitHubError."""
    url = gh.requester.graphql_url
    _headers, data = _request(gh, budget, url, lambda: gh.requester.graphql_query(query, variables))
    return data["data"]


def _request(gh: github.Github, budget: Budget, url: str, call):
    budget.wait_if_spent()
    with translated(_path(url), gh.requester.base_url):
        response_headers, data = call()
    lower = {key.lower(): value for key, value in response_headers.items()}
    budget.record(lower)
    return lower, data


@contextlib.contextmanager
def translated(what: str, unreachable: str):
    """PyGithub's and the HTTP stack's exceptions about ``what`` as one-line GitHubErrors.

    ``unreachable`` names what could not be reached when the connection fails.
    """
    try:
        yield
    except github.BadCredentialsException:
        raise GitHubError(f"GitHub rejected the token in {TOKEN_ENV} (401 Bad credentials)") from None
    except github.UnknownObjectException:
        raise GitHubError(f"not found: {what} (check the repository name and the token's access)") from None
    except github.GithubException as error:
        if not (isinstance(error.data, dict) and "message" in error.data):
            raise GitHubError(f"{unreachable} answered {error.status} to {what} without GitHub's error body: "
                              "is it a GitHub API root (https://api.github.com, https://HOST/api/v3)?",
                              error.status >= 500, error.status) from None
        message = error.data.get("message")
        if isinstance(error.data, dict) and error.data.get("errors"):
            message = "; ".join(str(e.get("message", e)) for e in error.data["errors"])
        transient = error.status >= 500 or isinstance(error, github.RateLimitExceededException)
        raise GitHubError(f"GitHub answered {error.status} to {what}: {message}", transient, error.status) from None
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
        if _timed_out(error):
            raise GitHubError(f"{unreachable} did not answer within {default_timeout()} s, {READ_RETRIES + 1} times: "
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
    date = headers.get("date")
    moment = parsedate_to_datetime(date) if date else datetime.datetime.now(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _path(url: str) -> str:
    return url.split("?")[0]

"""The export's HTTP to GitHub (REST and GraphQL) through requests, trusting nothing of the answer.

PyGithub's requester alone reads whole bodies, follows a 301 only (without its query) and takes a
body that is not JSON as data; the export's requests go through here, and the bot's PyGithub calls
through :class:`BoundedHTTP` / :class:`BoundedHTTPS`, its connection classes on the same bounds:

- redirects as GitHub documents them (a renamed repository's 301 to ``/repositories/{id}/...``,
  302, 307, 308), followed on the API's own scheme, host and port, at most MAX_REDIRECTS;
  a redirect, or a link, to anywhere else is refused, the token never sent there;
- the whole answer (status line, headers and body) within ANSWER_S seconds of the request, or the
  per-read ``timeout`` if longer: each read of the socket is given what is left, and none starts past it
  (:class:`_Until`, in the connections of every pool), so a server trickling bytes fails like one that
  is silent, a read timeout, retried by urllib3 as one;
- headers within http.client's limits (a line of 64 KiB, 100 headers): past them the answer is refused
  in one line, not retried (a rerun meets it again);
- the body read with urllib3's ``read1`` (bounded decompression, one receive at a time): at most
  MAX_BODY bytes once decoded;
- a body that does not parse as JSON is an error: cut short (transient) or not JSON at all;
- 5xx and dropped connections retried by urllib3's Retry; errors answered with a status of 400
  or more raised as PyGithub's exceptions, for :func:`.client.translated`.
"""
import http.client
import io
import json
import threading
import time
import urllib.parse
from typing import Any, Dict, NamedTuple, Optional, Tuple

import github
import github.Requester
import requests
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
from urllib3.util import Retry

from . import pacing, shapes
from .errors import GitHubError

MAX_REDIRECTS = 5
MAX_BODY = 64 * 2**20  # decoded bytes of one answer; a page of 100 items of 64 KiB bodies is about 13 MiB
CHUNK = 2**16
# Seconds for a whole answer (status line, headers, body) from its request: GitHub ends its own work at 10 s,
# and a page of 100 items crosses a slow link in a few; a server still sending after this is cut off
ANSWER_S = 30.0
USER_AGENT = "dffml-k8s-analysis"


class Answer(NamedTuple):
    """A successful answer (its time to headers, what GitHub spent on it, went to the pacer: ``pacing.answered``)."""

    status: int
    headers: Dict[str, str]
    data: Any


def origin(url: str) -> Tuple[str, str, Optional[int]]:
    """(scheme, host, port) of ``url``, the port made explicit."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme)


class Api:
    """One HTTP session to a GitHub API root, with its token."""

    def __init__(self, base_url: str, secret: Optional[str], timeout: float, retry: Retry):
        self.base_url = base_url.rstrip("/")
        parts = urllib.parse.urlsplit(self.base_url)
        self.graphql_url = urllib.parse.urlunsplit(
            parts._replace(path=github.Requester.Requester.get_graphql_prefix(parts.path)))
        self.secret, self.timeout = secret, timeout
        self.session = requests.Session()
        self.session.trust_env = False  # no .netrc credentials, no proxies from the environment
        mount(self.session, retry)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/vnd.github+json"})
        if secret:
            self.session.headers["Authorization"] = f"token {secret}"

    def absolute(self, url: str) -> str:
        """``url`` (a path under the API root, or a link GitHub gave) as an absolute URL on the API's host."""
        if url.startswith("/"):
            return self.base_url + url
        if origin(url) != origin(self.base_url):
            raise GitHubError(f"{self.base_url} pointed to {_where(url)}, another host: not followed "
                              "(the token is only sent to the API root --base-url names)")
        return url

    def request(self, method: str, url: str, params=None, headers=None, body=None):
        """An :class:`Answer` (lower-case headers, JSON None on 304 or 204); github exceptions for a status of 400 or more."""
        url, what = self.absolute(url), urllib.parse.urlsplit(url).path
        response, raw = exchange(self.session, method, url, self.base_url, self.timeout, params=params,
                                 headers=headers, json=body)
        status = response.status_code
        lower = {key.lower(): value for key, value in response.headers.items()}
        if status in (204, 304):
            return Answer(status, lower, None)
        if not raw.strip() and status < 300:  # read as a 304 it would end an update with changes unseen
            raise GitHubError(f"{self.base_url} answered {what} with an empty body, which GitHub does not")
        if status >= 400:
            try:
                data = parsed(raw, self.base_url, what, lower)
            except GitHubError:
                data = None
            raise github.Requester.Requester.createException(status, lower, data if isinstance(data, dict) else None)
        data = parsed(raw, self.base_url, what, lower)
        if data is None:  # JSON null: None is a 304's, or an empty body's
            raise GitHubError(f"{self.base_url} answered {what} with null, which GitHub does not")
        if not 200 <= status < 300:
            raise GitHubError(f"{self.base_url} answered {status} to {what}, which GitHub does not")
        return Answer(status, lower, data)

    def close(self) -> None:
        self.session.close()


def exchange(session: requests.Session, method: str, url: str, base_url: str, timeout: float, **request):
    """(the response, its decoded body) of ``url`` after redirects on ``base_url``'s host (the query is the
    Location's; 301-303 turn a POST into a GET); a redirect elsewhere, or more than MAX_REDIRECTS, is a GitHubError.
    Its time to headers goes to the pacer (``pacing.answered``: what GitHub spent; the body is our reading)."""
    what = urllib.parse.urlsplit(url).path
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = session.request(method, url, timeout=timeout, stream=True, allow_redirects=False, **request)
        except HeadersTooLarge as error:
            raise GitHubError(f"{base_url}'s answer to {what} had {error}, past what HTTP clients read: "
                              "refused") from None
        with response:
            if not response.is_redirect:
                pacing.answered(response.elapsed.total_seconds())
                return response, read_body(response, timeout, base_url, what)
            target = urllib.parse.urljoin(response.url, session.get_redirect_target(response))
        if origin(target) != origin(base_url):
            raise GitHubError(f"{base_url} redirected {what} to {_where(target)}, another host: "
                              "not followed (check --base-url)")
        url = target
        request.pop("params", None)
        if response.status_code in (301, 302, 303) and method != "GET":
            method = "GET"
            request.pop("json", None), request.pop("data", None)
    raise GitHubError(f"{base_url} redirected {what} more than {MAX_REDIRECTS} times: not followed")


def read_body(response: requests.Response, timeout: float, base_url: str, what: str) -> bytes:
    """The decoded body: at most MAX_BODY bytes, within the answer's deadline; GitHubError otherwise."""
    chunks, size = [], 0
    while True:
        try:
            chunk = response.raw.read1(CHUNK, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError as error:
            slow = f"not whole within {answer_s(timeout):g} s" if too_slow(error) else f"nothing for {timeout:g} s"
            raise GitHubError(f"{base_url} sent its answer to {what} too slowly ({slow}): retry later",
                              transient=True) from None
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError) as error:
            raise GitHubError(f"{base_url} cut its answer to {what} short ({type(error).__name__}): "
                              "retry later", transient=True) from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            raise GitHubError(f"{base_url} answered {what} with more than {MAX_BODY // 2**20} MiB "
                              "(decompressed): refused")
        chunks.append(chunk)


def parsed(raw: bytes, base_url: str, what: str, headers: dict):
    """``raw`` as JSON; a GitHubError in one line when it is not: cut short (transient), or not GitHub's."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        if raw.lstrip()[:1] in (b"[", b"{"):
            raise GitHubError(f"{base_url} cut its answer to {what} short (invalid JSON): retry later",
                              transient=True) from None
        kind = headers.get("content-type", "no content type").split(";")[0]
        raise GitHubError(f"{base_url} answered {what} with a body that is not JSON ({kind}): is it a GitHub "
                          "API root (https://api.github.com, https://HOST/api/v3)?") from None
    except ValueError as error:  # not UTF-8, a number of thousands of digits: not GitHub's
        raise GitHubError(f"{base_url} answered {what} with JSON that cannot be read ({type(error).__name__}): "
                          "is it a GitHub API root (https://api.github.com, https://HOST/api/v3)?") from None
    except RecursionError:
        raise GitHubError(f"{base_url} answered {what} with JSON nested too deep") from None


def answer_s(timeout: Optional[float]) -> float:
    """Seconds a whole answer may take with a per-read ``timeout``: ANSWER_S, or the timeout if longer."""
    return max(ANSWER_S, timeout or 0)


class TooSlow(TimeoutError):
    """The answer was not whole by its deadline: a socket timeout to urllib3, retried as one."""


class HeadersTooLarge(Exception):
    """Headers past http.client's limits: neither an HTTPException nor an OSError, so urllib3 does not retry it."""


def too_slow(error: BaseException) -> bool:
    """Whether ``error`` (behind requests' and urllib3's wrappers) is an answer cut off at its deadline."""
    seen, stack = set(), [error]
    while stack:
        found = stack.pop()
        if found is None or id(found) in seen:
            continue
        if isinstance(found, TooSlow):
            return True
        seen.add(id(found))
        stack += [found.__cause__, found.__context__, getattr(found, "reason", None)]
        stack += [arg for arg in getattr(found, "args", ()) if isinstance(arg, BaseException)]
    return False


class _Until(io.RawIOBase):
    """A response's socket (http.client's reader of it), each read given what is left of the answer's deadline."""

    def __init__(self, raw: io.RawIOBase, sock):
        self.raw, self.sock, self.per_read = raw, sock, sock.gettimeout()
        self.deadline = time.monotonic() + answer_s(self.per_read)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TooSlow(f"the answer was not whole within {answer_s(self.per_read):g} s")
        cut = self.per_read is None or left < self.per_read  # a timeout would be the deadline's
        self.sock.settimeout(left if cut else self.per_read)
        try:
            return self.raw.readinto(buffer)
        except TimeoutError as error:
            if cut:
                raise TooSlow(f"the answer was not whole within {answer_s(self.per_read):g} s") from error
            raise

    def close(self) -> None:
        self.raw.close()
        super().close()


class _Answer(http.client.HTTPResponse):
    """http.client's response read through :class:`_Until`; headers past its limits a HeadersTooLarge."""

    def __init__(self, sock, *args, **kwargs):
        super().__init__(sock, *args, **kwargs)
        self.fp = io.BufferedReader(_Until(self.fp.detach(), sock))

    def begin(self) -> None:
        try:
            super().begin()
        except http.client.LineTooLong as error:  # the limit of a line: 64 KiB
            raise HeadersTooLarge(f"a {str(error).rsplit('reading ', 1)[-1]} over 64 KiB") from None
        except http.client.HTTPException as error:
            if "more than" not in str(error):  # "got more than 100 headers"
                raise
            raise HeadersTooLarge("more than 100 headers") from None


class _HTTPConnection(urllib3.connection.HTTPConnection):
    response_class = _Answer


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    response_class = _Answer


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections read answers through :class:`_Answer` (proxied ones too)."""

    POOLS = {"http": _HTTPPool, "https": _HTTPSPool}

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.POOLS

    def proxy_manager_for(self, proxy, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = self.POOLS
        return manager


def mount(session: requests.Session, retry: Retry, pool_size: int = requests.adapters.DEFAULT_POOLSIZE) -> None:
    """``session``'s HTTP and HTTPS through the deadline and header limits, retried by ``retry``."""
    adapter = _Adapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)


_KEPT = threading.local()  # per thread: (scheme, host, port) -> its session


def _kept_session(scheme: str, host: str, port: int, retry: Retry, pool_size: int) -> requests.Session:
    """This thread's session to ``scheme://host:port`` (PyGithub keeps no connection for injected classes: one
    each request would open a connection, TLS included), retried by ``retry``: the last request's."""
    sessions = _KEPT.__dict__.setdefault("sessions", {})
    session = sessions.get((scheme, host, port))
    if session is None:
        session = sessions[(scheme, host, port)] = requests.Session()
        session.auth = github.Requester.Requester.noopAuth  # as PyGithub's: no .netrc credentials
        mount(session, retry, pool_size)
    for adapter in session.adapters.values():
        adapter.max_retries = retry
    return session


class _Bounded:
    """PyGithub's connection (the bot's calls) through :func:`exchange`: redirects only on the API's host, the
    whole answer within its deadline, the body within MAX_BODY, a 2xx body that is not JSON, or not of the shape
    GitHub gives (:mod:`.shapes`), refused, each in one GitHubError."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.session.close()  # PyGithub's own, for one request: this thread's for the host instead (kept open)
        self.session = _kept_session(self.protocol, self.host, self.port, self.retry, self.pool_size)

    def close(self) -> None:
        """Nothing: the session is the thread's, for its next connection to the host."""

    def getresponse(self):
        base_url = f"{self.protocol}://{self.host}:{self.port}"
        url = base_url + self.url
        response, raw = exchange(self.session, self.verb, url, base_url, self.timeout, headers=self.headers,
                                 data=self.input, verify=self.verify)
        what = urllib.parse.urlsplit(url).path
        if response.status_code == 202 and self.verb == "GET":  # PyGithub would ask again every 2 s, without end
            raise GitHubError(f"{base_url} answered 202 to GET {what}, which GitHub does only for statistics still "
                              "computing: retry later", transient=True)
        if 200 <= response.status_code < 300:
            data = parsed(raw, base_url, what, {key.lower(): value for key, value in response.headers.items()}) \
                if raw.strip() else None
            wrong = shapes.problem_of(self.verb, what, data)
            if wrong:
                raise GitHubError(f"{base_url}'s answer to {self.verb} {what} is not GitHub's: {wrong}")
        response._content = raw  # what requests' ``text`` decodes, as PyGithub reads it
        return github.Requester.RequestsResponse(response)


class BoundedHTTP(_Bounded, github.Requester.HTTPRequestsConnectionClass):
    pass


class BoundedHTTPS(_Bounded, github.Requester.HTTPSRequestsConnectionClass):
    pass


def _where(url: str) -> str:
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}"


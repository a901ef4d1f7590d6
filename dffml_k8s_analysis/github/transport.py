"""The export's HTTP to GitHub (REST and GraphQL) through requests, trusting nothing of the answer.

PyGithub's requester alone reads whole bodies, follows a 301 only (without its query) and takes a
body that is not JSON as data; the export's requests go through here, and the bot's PyGithub calls
through :class:`BoundedHTTP` / :class:`BoundedHTTPS`, its connection classes on the same bounds:

- redirects as GitHub documents them (a renamed repository's 301 to ``/repositories/{id}/...``,
  302, 307, 308), followed on the API's own scheme, host and port, at most MAX_REDIRECTS;
  a redirect, or a link, to anywhere else is refused, the token never sent there;
- the body read with urllib3's ``read1`` (bounded decompression, one receive at a time): at most
  MAX_BODY bytes once decoded, and within ``timeout`` seconds of its headers;
- a body that does not parse as JSON is an error: cut short (transient) or not JSON at all;
- 5xx and dropped connections retried by urllib3's Retry; errors answered with a status of 400
  or more raised as PyGithub's exceptions, for :func:`.client.translated`.
"""
import json
import time
import urllib.parse
from typing import Any, Dict, NamedTuple, Optional, Tuple

import github
import github.Requester
import requests
import urllib3.exceptions
from urllib3.util import Retry

from . import pacing
from .errors import GitHubError

MAX_REDIRECTS = 5
MAX_BODY = 64 * 2**20  # decoded bytes of one answer; a page of 100 items of 64 KiB bodies is about 13 MiB
CHUNK = 2**16
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
        adapter = requests.adapters.HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
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
        """An :class:`Answer` (lower-case headers, JSON None on 304); github exceptions for a status of 400 or more."""
        url, what = self.absolute(url), urllib.parse.urlsplit(url).path
        response, raw = exchange(self.session, method, url, self.base_url, self.timeout, params=params,
                                 headers=headers, json=body)
        status = response.status_code
        lower = {key.lower(): value for key, value in response.headers.items()}
        if status == 304 or (not raw.strip() and status < 300):
            return Answer(status, lower, None)
        if status >= 400:
            try:
                data = parsed(raw, self.base_url, what, lower)
            except GitHubError:
                data = None
            raise github.Requester.Requester.createException(status, lower, data if isinstance(data, dict) else None)
        data = parsed(raw, self.base_url, what, lower)
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
        response = session.request(method, url, timeout=timeout, stream=True, allow_redirects=False, **request)
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
    """The decoded body: at most MAX_BODY bytes, within ``timeout`` s; GitHubError otherwise."""
    deadline = time.monotonic() + timeout
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise GitHubError(f"{base_url} sent its answer to {what} too slowly (more than "
                              f"{timeout:g} s): retry later", transient=True)
        try:
            chunk = response.raw.read1(CHUNK, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError:
            deadline = 0
            continue
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


class _Bounded:
    """PyGithub's connection (the bot's calls) through :func:`exchange`: redirects only on the API's host, the
    body within MAX_BODY and the timeout, a 2xx body that is not JSON refused, each in one GitHubError."""

    def getresponse(self):
        base_url = f"{self.protocol}://{self.host}:{self.port}"
        url = base_url + self.url
        response, raw = exchange(self.session, self.verb, url, base_url, self.timeout, headers=self.headers,
                                 data=self.input, verify=self.verify)
        what = urllib.parse.urlsplit(url).path
        if response.status_code == 202 and self.verb == "GET":  # PyGithub would ask again every 2 s, without end
            raise GitHubError(f"{base_url} answered 202 to GET {what}, which GitHub does only for statistics still "
                              "computing: retry later", transient=True)
        if 200 <= response.status_code < 300 and raw.strip():
            parsed(raw, base_url, what, {key.lower(): value for key, value in response.headers.items()})
        response._content = raw  # what requests' ``text`` decodes, as PyGithub reads it
        return github.Requester.RequestsResponse(response)


class BoundedHTTP(_Bounded, github.Requester.HTTPRequestsConnectionClass):
    pass


class BoundedHTTPS(_Bounded, github.Requester.HTTPSRequestsConnectionClass):
    pass


def _where(url: str) -> str:
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}"


"""The export's HTTP to GitHub (REST and GraphQL) through requests, trusting nothing of the answer.

PyGithub's requester (the bot's few calls) reads whole bodies, follows a 301 only (without its
query) and takes a body that is not JSON as data; the export's requests go through here instead:

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
        for _ in range(MAX_REDIRECTS + 1):
            response = self.session.request(method, url, params=params, headers=headers, json=body,
                                            timeout=self.timeout, stream=True, allow_redirects=False)
            with response:
                if not response.is_redirect:
                    pacing.answered(response.elapsed.total_seconds())  # what GitHub spent; the body is our reading
                    return self._answer(response, what)
                target = urllib.parse.urljoin(response.url, self.session.get_redirect_target(response))
            if origin(target) != origin(self.base_url):
                raise GitHubError(f"{self.base_url} redirected {what} to {_where(target)}, another host: "
                                  "not followed (check --base-url)")
            url, params = target, None  # the query is the Location's
            if response.status_code in (301, 302, 303) and method != "GET":
                method, body = "GET", None
        raise GitHubError(f"{self.base_url} redirected {what} more than {MAX_REDIRECTS} times: not followed")

    def _answer(self, response: requests.Response, what: str):
        status = response.status_code
        lower = {key.lower(): value for key, value in response.headers.items()}
        raw = self._body(response, what)
        if status == 304 or (not raw.strip() and status < 300):
            return Answer(status, lower, None)
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            data = None
            if status < 400:
                raise self._not_json(raw, what, lower) from None
        except ValueError as error:  # not UTF-8, a number of thousands of digits: not GitHub's
            data = None
            if status < 400:
                raise GitHubError(f"{self.base_url} answered {what} with JSON that cannot be read "
                                  f"({type(error).__name__}): is it a GitHub API root (https://api.github.com, "
                                  "https://HOST/api/v3)?") from None
        except RecursionError:
            raise GitHubError(f"{self.base_url} answered {what} with JSON nested too deep") from None
        if status >= 400:
            raise github.Requester.Requester.createException(status, lower, data if isinstance(data, dict) else None)
        if not 200 <= status < 300:
            raise GitHubError(f"{self.base_url} answered {status} to {what}, which GitHub does not")
        return Answer(status, lower, data)

    def _body(self, response: requests.Response, what: str) -> bytes:
        """The decoded body: at most MAX_BODY bytes, within ``timeout`` s; GitHubError otherwise."""
        deadline = time.monotonic() + self.timeout
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise GitHubError(f"{self.base_url} sent its answer to {what} too slowly (more than "
                                  f"{self.timeout:g} s): retry later", transient=True)
            try:
                chunk = response.raw.read1(CHUNK, decode_content=True)
            except urllib3.exceptions.ReadTimeoutError:
                deadline = 0
                continue
            except (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError) as error:
                raise GitHubError(f"{self.base_url} cut its answer to {what} short ({type(error).__name__}): "
                                  "retry later", transient=True) from None
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_BODY:
                raise GitHubError(f"{self.base_url} answered {what} with more than {MAX_BODY // 2**20} MiB "
                                  "(decompressed): refused")
            chunks.append(chunk)

    def _not_json(self, raw: bytes, what: str, headers: dict) -> GitHubError:
        if raw.lstrip()[:1] in (b"[", b"{"):
            return GitHubError(f"{self.base_url} cut its answer to {what} short (invalid JSON): retry later",
                               transient=True)
        kind = headers.get("content-type", "no content type").split(";")[0]
        return GitHubError(f"{self.base_url} answered {what} with a body that is not JSON ({kind}): is it a "
                           "GitHub API root (https://api.github.com, https://HOST/api/v3)?")

    def close(self) -> None:
        self.session.close()


def _where(url: str) -> str:
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}"


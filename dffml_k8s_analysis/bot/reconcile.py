"""Make GitHub agree with a prediction: the label added or removed, and one comment that says so.

p >= threshold: the model's label (``kind/bug``) is added when it is missing;
below: removed when present; either way one comment marked :data:`MARKER`
gives the probability, the threshold and what was done. No note (or
``NONE``): the bot's comment is deleted and no label is touched. Labels and
comments are read before any write, so a replayed event writes nothing.

The bot's comment is one with the marker *written by the token's own account*
(``GET /user``, asked once per server and token): comments of anyone else are
never edited or deleted, marker or not. Should two reconciles race (replicas
without a shared lease), the oldest of the bot's comments is kept and the
others are deleted, by whichever reconcile sees them, so one remains. The
GitHub token comes from ``GITHUB_TOKEN`` (or ``GITHUB_TOKEN_FILE``) through the client.

One reconcile is one attempt: a failure is a one-line GitHubError and the
delivery queue (``serve/deliveries.py``) decides when to try again. Each request
is retried by urllib3 only (:data:`GITHUB_RETRIES`, rate-limit waits up to
:data:`MAX_WAIT_S`; a longer one is a :class:`RateLimited` with its wait), so one
request ends within :func:`request_worst_s`; no write starts after the
:data:`ATTEMPT`'s deadline.
"""
import contextlib
import contextvars
import dataclasses
import hashlib
import time
from typing import Any, Dict, List, Optional, Tuple

import github

from ..github.client import SECONDARY_WAIT, GitHubError, connect, token, translated

MARKER = "<!-- RELNOTE_PREDICTION -->"
GITHUB_TIMEOUT = 10  # s to connect and s between bytes of an answer, per try
GITHUB_RETRIES = 2  # tries again after a 5xx, a dropped connection or a short rate-limit wait
MAX_WAIT_S = 5.0  # a rate-limit wait up to this is waited in the request; a longer one goes to the queue
BACKOFF_FACTOR = 0.5  # urllib3's backoff between tries (the client's)


@dataclasses.dataclass
class Attempt:
    """What the delivery queue tells a reconcile: the ``time.monotonic()`` past which it starts no write,
    and what earlier attempts for the same delivery wrote (the outcome says "added" when a retry finds it)."""

    deadline: float
    done: Dict[str, str] = dataclasses.field(default_factory=dict)


ATTEMPT: contextvars.ContextVar = contextvars.ContextVar("reconcile_attempt", default=None)  # None: no deadline


class RateLimited(GitHubError):
    """GitHub asked to wait ``wait`` seconds, longer than a request waits."""

    def __init__(self, message: str, wait: float, status: Optional[int]):
        super().__init__(message, transient=True, status=status)
        self.wait = wait


def request_worst_s() -> float:
    """The longest one request of the bot can take: every try connecting and answering at the timeout's
    edge, every wait between tries the longest allowed (a body trickling slower than one byte per timeout
    is the client's to bound)."""
    tries = GITHUB_RETRIES + 1
    return tries * 2 * GITHUB_TIMEOUT + GITHUB_RETRIES * max(MAX_WAIT_S, BACKOFF_FACTOR * 2 ** (GITHUB_RETRIES - 1))


def client(base_url: str) -> github.Github:
    """The bot's PyGithub client: short timeouts, few retries, short rate-limit waits."""
    return connect(base_url, timeout=GITHUB_TIMEOUT, retries=GITHUB_RETRIES, max_wait=MAX_WAIT_S)


def own_login(gh: github.Github, base_url: str) -> str:
    """The login of the account the token belongs to (cached per server and token)."""
    key = (base_url, hashlib.sha256((token() or "").encode()).hexdigest())
    if key not in _LOGINS:
        _LOGINS[key] = gh.get_user().login
    return _LOGINS[key]


_LOGINS: Dict[tuple, str] = {}  # (base URL, the token's SHA-256) -> login


@contextlib.contextmanager
def github_errors(repo: str, number: int):
    """PyGithub's exceptions about one item as one-line GitHubErrors; a rate limit as RateLimited."""
    try:
        with translated(f"{repo}#{number}", f"GitHub for {repo}#{number}", GITHUB_TIMEOUT):
            yield
    except GitHubError as error:
        answer = error.__context__  # PyGithub's exception, which the one-line error hides
        if isinstance(answer, github.RateLimitExceededException) or getattr(answer, "status", None) == 429:
            wait = getattr(answer, "wait", None) or SECONDARY_WAIT
            raise RateLimited(f"{error}; waiting {wait:g} s", wait, error.status) from None
        raise


def before_writing(repo: str, number: int) -> None:
    """GitHubError (transient) once the attempt's deadline has passed: the queue has given it up."""
    attempt = ATTEMPT.get()
    if attempt is not None and time.monotonic() > attempt.deadline:
        raise GitHubError(f"the attempt on {repo}#{number} passed its deadline before writing", transient=True)


def issue_body_and_labels(base_url: str, repo: str, number: int) -> Tuple[Optional[str], List[str]]:
    """An issue's or PR's current body and label names from GitHub, its failures as one-line GitHubErrors."""
    # Read inside the translation: PyGithub 2.9+ fetches the issue lazily, at its first attribute.
    with github_errors(repo, number):
        issue = client(base_url).get_repo(repo, lazy=True).get_issue(number)
        return issue.body, [label.name for label in issue.labels]


def reconcile(base_url: str, repo: str, number: int, prediction: Dict[str, Any]) -> Dict[str, Any]:
    """Reconcile one item once: read the labels and comments, then write what differs.

    Reading first, a reconcile tried again after a failure mid-way does not repeat
    a write that landed (and never makes a second comment).
    """
    gh = client(base_url)
    with github_errors(repo, number):
        return _reconcile_once(gh, own_login(gh, base_url), repo, number, prediction)


def bot_comments(issue, login: str) -> list:
    """The bot's comments on an item, oldest first: the marker, written by ``login``."""
    return [comment for comment in issue.get_comments()
            if MARKER in (comment.body or "") and comment.user is not None and comment.user.login == login]


def keep_oldest(comments: list, repo: str, number: int):
    """Delete all but the oldest of the bot's comments (left by a failure or a race); the one kept, or None."""
    for extra in comments[1:]:
        before_writing(repo, number)
        with contextlib.suppress(github.UnknownObjectException):  # another reconcile deleted it first
            extra.delete()
    return comments[0] if comments else None


def _reconcile_once(gh: github.Github, login: str, repo: str, number: int, prediction: Dict[str, Any]):
    issue = gh.get_repo(repo, lazy=True).get_issue(number)
    comment = keep_oldest(bot_comments(issue, login), repo, number)
    outcome, attempt = {"repo": repo, "number": number}, ATTEMPT.get()
    done = attempt.done if attempt else {}
    if prediction["note"] is None:
        if comment is not None:
            before_writing(repo, number)
            with contextlib.suppress(github.UnknownObjectException):
                comment.delete()
        return dict(outcome, note=False, label="untouched", comment="deleted" if comment else "none")
    label, probability, threshold = prediction["label"], prediction["probability"], prediction["threshold"]
    wanted, present = probability >= threshold, label in {lab.name for lab in issue.labels}
    if wanted != present:
        before_writing(repo, number)
    if wanted and not present:
        issue.add_to_labels(label)
        done["label"] = "added"
    elif present and not wanted:
        issue.remove_from_labels(label)
        done["label"] = "removed"
    action = done.get("label") or ("kept" if present else "not added")
    verdict = (f"Release note prediction: `{label}` probability {probability:.3f}, threshold {threshold:.2f}: "
               f"{'looks like' if wanted else 'does not look like'} `{label}`.")
    body = f"{MARKER}\n{verdict}\n{SENTENCES[action].format(label=label)}\n"
    if comment is None:
        before_writing(repo, number)
        issue.create_comment(body)
        done["comment"] = "created"
        kept = keep_oldest(bot_comments(issue, login), repo, number)  # a racing reconcile's may be older: keep that one
        if kept is not None and kept.body != body:
            before_writing(repo, number)
            kept.edit(body)
    elif comment.body != body and (action in ("added", "removed") or not comment.body.startswith(f"{MARKER}\n{verdict}\n")):
        before_writing(repo, number)
        comment.edit(body)  # the verdict changed or a label was just written; a replay leaves it
        done["comment"] = done.get("comment", "edited")
    return dict(outcome, note=True, probability=probability, threshold=threshold, label=action,
                comment=done.get("comment", "unchanged"))


SENTENCES = {
    "added": "Added the `{label}` label.",
    "removed": "Removed the `{label}` label.",
    "kept": "The `{label}` label was already set.",
    "not added": "Did not add the `{label}` label.",
}

"""Make GitHub agree with a prediction under the bot's rules (``rules.py``): labels and one comment.

Before any write the reconcile reads the item's labels, its events (who labeled or unlabeled what: at
most :data:`EVENT_PAGES` requests) and comments; then it writes what differs, so a replayed event writes
nothing. ``shadow`` mode reads the labels and events only and writes nothing: its outcome says what it
``would`` do. No note (or ``NONE``): the bot's comment is deleted and no label is touched.

The bot's comment is one with the marker *written by the token's own account*
(``GET /user``, asked once per server and token): comments of anyone else are
never edited or deleted, marker or not. Should two reconciles race (replicas
without a shared lease), the oldest of the bot's comments is kept and the
others are deleted, by whichever reconcile sees them, so one remains. A label
to add is first looked up on the repository (``GET /repos/{owner}/{repo}/labels/{name}``, the answer
kept :data:`LABELS_TTL_S`, at most :data:`LABELS_KEPT` of them): GitHub would create a missing one,
so it is not added and the decision is ``skipped`` (the rules' ``Decision.without``). The
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

from ..github.client import SECONDARY_WAIT, GitHubError, connect, limited, token, translated
from ..github.transport import answer_s
from . import rules
from .rules import MARKER  # noqa: F401  (the bot's comments' marker, part of this module's API)

EVENT_PAGES = 2  # an item's events read per reconcile: provenance costs at most this many requests
PER_PAGE = 100  # the client's page size (github.client.connect)
GITHUB_TIMEOUT = 10  # s to connect and s between bytes of an answer, per try (the whole answer: transport.answer_s)
GITHUB_RETRIES = 2  # tries again after a 5xx, a dropped connection or a short rate-limit wait
MAX_WAIT_S = 5.0  # a rate-limit wait up to this is waited in the request; a longer one goes to the queue
BACKOFF_FACTOR = 0.5  # urllib3's backoff between tries (the client's)
LABELS_TTL_S = 3600.0  # whether a label is on the repository is asked again after this
LABELS_KEPT = 1024  # (server, repository, label) answers kept; all forgotten beyond


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
    """The longest one request of the bot can take: every try connecting at the timeout's edge and sending its whole
    answer at the deadline's (``github.transport.answer_s``), every wait between tries the longest allowed."""
    tries = GITHUB_RETRIES + 1
    return tries * (GITHUB_TIMEOUT + answer_s(GITHUB_TIMEOUT)) + GITHUB_RETRIES * max(
        MAX_WAIT_S, BACKOFF_FACTOR * 2 ** (GITHUB_RETRIES - 1))


def client(base_url: str) -> github.Github:
    """The bot's PyGithub client: short timeouts, few retries, short rate-limit waits."""
    return connect(base_url, timeout=GITHUB_TIMEOUT, retries=GITHUB_RETRIES, max_wait=MAX_WAIT_S)


def own_login(gh: github.Github, base_url: str) -> str:
    """The login of the account the token belongs to (cached per server and token)."""
    key = _login_key(base_url)
    if key not in _LOGINS:
        _LOGINS[key] = gh.get_user().login
    return _LOGINS[key]


def known_login(base_url: str) -> Optional[str]:
    """The token's login when a reconcile has asked it already (no request), else None."""
    return _LOGINS.get(_login_key(base_url))


def _login_key(base_url: str) -> tuple:
    return base_url, hashlib.sha256((token() or "").encode()).hexdigest()


_LOGINS: Dict[tuple, str] = {}  # (base URL, the token's SHA-256) -> login


def on_repository(gh: github.Github, base_url: str, repo: str, name: str) -> bool:
    """Whether the repository has the label ``name`` (one request, its answer kept :data:`LABELS_TTL_S`)."""
    key, now = (base_url, repo.lower(), name.lower()), time.monotonic()
    known = _REPO_LABELS.get(key)
    if known is None or now - known[1] > LABELS_TTL_S:
        try:
            found = gh.get_repo(repo).get_label(name).color is not None  # lazy objects: the colour asks GitHub
        except github.UnknownObjectException:
            found = False
        if len(_REPO_LABELS) >= LABELS_KEPT:
            _REPO_LABELS.clear()
        known = _REPO_LABELS[key] = (found, now)
    return known[0]


_REPO_LABELS: Dict[tuple, Tuple[bool, float]] = {}  # (base URL, repository, label) -> (on it, when asked)


@contextlib.contextmanager
def github_errors(repo: str, number: int):
    """PyGithub's exceptions about one item as one-line GitHubErrors; a rate limit as RateLimited."""
    try:
        with translated(f"{repo}#{number}", f"GitHub for {repo}#{number}", GITHUB_TIMEOUT, GITHUB_RETRIES + 1):
            yield
    except GitHubError as error:
        answer = error.__context__  # PyGithub's exception, which the one-line error hides
        if isinstance(answer, github.GithubException) and limited(answer):
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
        issue = client(base_url).get_repo(repo).get_issue(number)
        return issue.body, [label.name for label in issue.labels]


def reconcile(base_url: str, repo: str, number: int, prediction: Dict[str, Any], mode: str = "act",
              apply_sigs: bool = False) -> Dict[str, Any]:
    """Reconcile one item once under :mod:`.rules`: read its labels, their events and comments, then write what
    differs (nothing in ``shadow`` mode). Reading first, a reconcile tried again after a failure mid-way does not
    repeat a write that landed (and never makes a second comment)."""
    gh = client(base_url)
    with github_errors(repo, number):
        return _reconcile_once(gh, base_url, own_login(gh, base_url), repo, number, prediction, mode, apply_sigs)


def provenance(issue, login: str) -> rules.Provenance:
    """Who last labeled or unlabeled each label of ``issue``, from at most :data:`EVENT_PAGES` pages of its events
    (incomplete when there may be more)."""
    events, complete = [], False
    listing = issue.get_events()
    for page in range(EVENT_PAGES):
        found = listing.get_page(page)
        events.extend(found)
        if len(found) < PER_PAGE:
            complete = True
            break
    return rules.Provenance.of(login, [(e.event, e.label.name if e.label else "", e.actor.login if e.actor else None)
                                       for e in events], complete)


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


def _reconcile_once(gh: github.Github, base_url: str, login: str, repo: str, number: int, prediction: Dict[str, Any], mode: str,
                    apply_sigs: bool):
    issue = gh.get_repo(repo).get_issue(number)
    outcome, attempt = {"repo": repo, "number": number, "mode": mode}, ATTEMPT.get()
    done = attempt.done if attempt else {}
    writes = mode != "shadow"
    comment = keep_oldest(bot_comments(issue, login), repo, number) if writes else None
    if prediction["note"] is None:
        if comment is not None:
            before_writing(repo, number)
            with contextlib.suppress(github.UnknownObjectException):
                comment.delete()
        return dict(outcome, note=False, label="untouched", comment="deleted" if comment else "none")
    labels = [label.name for label in issue.labels]
    decision = rules.decide(prediction, labels, provenance(issue, login), mode, apply_sigs)
    label = prediction["label"]
    missing = [name for name in decision.add if not on_repository(gh, base_url, repo, name)]
    if missing:
        decision.without(missing, label, repo)
    outcome.update(note=True, probability=prediction["probability"], threshold=prediction["threshold"],
                   act=prediction["act"], band=prediction["band"], model_label=label, decision=decision.verdict,
                   why=decision.why, deferred=decision.deferred)
    if decision.sigs or decision.sig_added:
        outcome["sigs"] = [s["sig"] for s in decision.sigs] or [decision.sig_added]
    if not writes:
        would = {"add": decision.add, "remove": decision.remove}
        return dict(outcome, label="untouched", comment="none", would=dict(would, comment=decision.kind))
    if decision.add or decision.remove:
        before_writing(repo, number)
    for name in decision.remove:
        with contextlib.suppress(github.UnknownObjectException):  # removed meanwhile, or deleted on the repository
            issue.remove_from_labels(name)
        done["label"] = "removed"
    if decision.add:
        issue.add_to_labels(*decision.add)
        if label in decision.add:
            done["label"] = "added"
    action = done.get("label") or ("left to a person" if decision.deferred else
                                    "kept" if label in labels else "not added")
    body = rules.comment(decision, prediction)
    if body is None:
        if comment is not None:
            before_writing(repo, number)
            with contextlib.suppress(github.UnknownObjectException):
                comment.delete()
            done["comment"] = "deleted"
    elif comment is None:
        before_writing(repo, number)
        issue.create_comment(body)
        done["comment"] = "created"
        kept = keep_oldest(bot_comments(issue, login), repo, number)  # a racing reconcile's may be older: keep that one
        if kept is not None and kept.body != body:
            before_writing(repo, number)
            kept.edit(body)
    elif comment.body != body:
        before_writing(repo, number)
        comment.edit(body)
        done["comment"] = done.get("comment", "edited")
    return dict(outcome, label=action, comment=done.get("comment", "unchanged" if body else "none"))

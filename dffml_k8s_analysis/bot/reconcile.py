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
"""
import contextlib
import hashlib
import logging
import time
from typing import Any, Dict, List, Optional, Tuple

import github

from ..github.client import GitHubError, connect, token, translated

LOGGER = logging.getLogger(__name__)

MARKER = "<!-- RELNOTE_PREDICTION -->"
ATTEMPTS = 5  # whole reconciles, each re-reading the state first
GITHUB_TIMEOUT = 10  # s per request: the bot's work is queued, so it fails fast and is tried again
GITHUB_RETRIES = 3


def client(base_url: str) -> github.Github:
    """The bot's PyGithub client: short timeouts, few retries."""
    return connect(base_url, timeout=GITHUB_TIMEOUT, retries=GITHUB_RETRIES)


def own_login(gh: github.Github, base_url: str) -> str:
    """The login of the account the token belongs to (cached per server and token)."""
    key = (base_url, hashlib.sha256((token() or "").encode()).hexdigest())
    if key not in _LOGINS:
        _LOGINS[key] = gh.get_user().login
    return _LOGINS[key]


_LOGINS: Dict[tuple, str] = {}  # (base URL, the token's SHA-256) -> login


def github_errors(repo: str, number: int):
    """PyGithub's exceptions about one item as one-line GitHubErrors."""
    return translated(f"{repo}#{number}", f"GitHub for {repo}#{number}", GITHUB_TIMEOUT)


def issue_body_and_labels(base_url: str, repo: str, number: int) -> Tuple[Optional[str], List[str]]:
    """An issue's or PR's current body and label names from GitHub, its failures as one-line GitHubErrors."""
    # Read inside the translation: PyGithub 2.9+ fetches the issue lazily, at its first attribute.
    with github_errors(repo, number):
        issue = client(base_url).get_repo(repo, lazy=True).get_issue(number)
        return issue.body, [label.name for label in issue.labels]


def reconcile(base_url: str, repo: str, number: int, prediction: Dict[str, Any]) -> Dict[str, Any]:
    """Reconcile one item, retrying the whole read-then-write when GitHub fails mid-way.

    Each attempt reads the labels and comments again, so a write that landed
    before a failure is not repeated (and never makes a second comment).
    """
    done: Dict[str, str] = {}
    gh = client(base_url)

    def attempt():
        with github_errors(repo, number):
            return _reconcile_once(gh, own_login(gh, base_url), repo, number, prediction, done)

    for tried in range(1, ATTEMPTS):
        try:
            return attempt()
        except GitHubError as error:
            if not error.transient:
                raise
            LOGGER.warning("%s; reconciling %s#%d again (attempt %d)", error, repo, number, tried + 1)
            time.sleep(0.5 * tried)
    return attempt()


def bot_comments(issue, login: str) -> list:
    """The bot's comments on an item, oldest first: the marker, written by ``login``."""
    return [comment for comment in issue.get_comments()
            if MARKER in (comment.body or "") and comment.user is not None and comment.user.login == login]


def keep_oldest(comments: list):
    """Delete all but the oldest of the bot's comments (left by a failure or a race); the one kept, or None."""
    for extra in comments[1:]:
        with contextlib.suppress(github.UnknownObjectException):  # another reconcile deleted it first
            extra.delete()
    return comments[0] if comments else None


def _reconcile_once(gh: github.Github, login: str, repo: str, number: int, prediction: Dict[str, Any],
                    done: Dict[str, str]):
    issue = gh.get_repo(repo, lazy=True).get_issue(number)
    comment = keep_oldest(bot_comments(issue, login))
    outcome = {"repo": repo, "number": number}
    if prediction["note"] is None:
        if comment is not None:
            with contextlib.suppress(github.UnknownObjectException):
                comment.delete()
        return dict(outcome, note=False, label="untouched", comment="deleted" if comment else "none")
    label, probability, threshold = prediction["label"], prediction["probability"], prediction["threshold"]
    wanted, present = probability >= threshold, label in {lab.name for lab in issue.labels}
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
        issue.create_comment(body)
        done["comment"] = "created"
        kept = keep_oldest(bot_comments(issue, login))  # a racing reconcile's may be older: keep that one
        if kept is not None and kept.body != body:
            kept.edit(body)
    elif comment.body != body and (action in ("added", "removed") or not comment.body.startswith(f"{MARKER}\n{verdict}\n")):
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

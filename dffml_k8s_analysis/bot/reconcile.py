"""Make GitHub agree with a prediction: the label added or removed, and one comment that says so.

p >= threshold: the model's label (``kind/bug``) is added when it is missing;
below: removed when present; either way one comment marked :data:`MARKER`
gives the probability, the threshold and what was done. No note (or
``NONE``): the bot's comment is deleted and no label is touched. Labels and
comments are read before any write, so a replayed event writes nothing. The
GitHub token comes from ``GITHUB_TOKEN`` through the client.
"""
import collections
import logging
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import github

from ..github.client import GitHubError, connect, translated

LOGGER = logging.getLogger(__name__)

MARKER = "<!-- RELNOTE_PREDICTION -->"
ATTEMPTS = 3  # whole reconciles, each re-reading the state first

_LOCKS: Dict[tuple, threading.Lock] = collections.defaultdict(threading.Lock)
_LOCKS_GUARD = threading.Lock()


def _item_lock(*key) -> threading.Lock:
    """One lock per item: concurrent deliveries for it reconcile one after the other."""
    with _LOCKS_GUARD:
        return _LOCKS[key]


def github_errors(repo: str, number: int):
    """PyGithub's exceptions about one item as one-line GitHubErrors."""
    return translated(f"{repo}#{number}", f"GitHub for {repo}#{number}")


def issue_body_and_labels(base_url: str, repo: str, number: int) -> Tuple[Optional[str], List[str]]:
    """An issue's or PR's current body and label names from GitHub, its failures as one-line GitHubErrors."""
    # Read inside the translation: PyGithub 2.9+ fetches the issue lazily, at its first attribute.
    with github_errors(repo, number):
        issue = connect(base_url).get_repo(repo, lazy=True).get_issue(number)
        return issue.body, [label.name for label in issue.labels]


def reconcile(base_url: str, repo: str, number: int, prediction: Dict[str, Any]) -> Dict[str, Any]:
    """Reconcile one item, retrying the whole read-then-write when GitHub fails mid-way.

    Each attempt reads the labels and comments again, so a write that landed
    before a failure is not repeated (and never makes a second comment).
    """
    done: Dict[str, str] = {}
    gh = connect(base_url)

    def attempt():
        with github_errors(repo, number):
            return _reconcile_once(gh, repo, number, prediction, done)

    with _item_lock(base_url, repo.lower(), number):
        for tried in range(1, ATTEMPTS):
            try:
                return attempt()
            except GitHubError as error:
                if not error.transient:
                    raise
                LOGGER.warning("%s; reconciling %s#%d again (attempt %d)", error, repo, number, tried + 1)
                time.sleep(0.5 * tried)
        return attempt()


def _reconcile_once(gh: github.Github, repo: str, number: int, prediction: Dict[str, Any], done: Dict[str, str]):
    issue = gh.get_repo(repo, lazy=True).get_issue(number)
    ours = [comment for comment in issue.get_comments() if MARKER in (comment.body or "")]
    for extra in ours[1:]:  # left by an earlier failure: keep exactly one
        extra.delete()
    comment = ours[0] if ours else None
    outcome = {"repo": repo, "number": number}
    if prediction["note"] is None:
        if comment is not None:
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

"""The labeling bot as DFFML operations (``dataflows/label.yaml``).

Two ways in, one reconcile:

- a webhook delivery: ``k8s.verify_webhook`` checks ``X-Hub-Signature-256``
  (HMAC-SHA256 of the raw body, constant-time compare) and parses the JSON;
  ``k8s.webhook_item`` keeps ``pull_request`` and ``issues`` events whose
  action is opened, edited or reopened (anything else becomes an "ignored"
  outcome);
- an item by number (``k8s.fetch_item``: ``github.repo`` + ``github.number``),
  as ``k8s-analysis label`` runs it.

Both give the item and its body; ``k8s.release_note`` (the records' rules)
extracts the note, ``k8s.predict_note`` predicts, ``k8s.reconcile_labels``
makes GitHub agree: the label added when p >= threshold, removed when below,
and one comment with :data:`MARKER` saying so; no note (or ``NONE``): the
bot's comment is deleted and no label is touched. Current labels and
comments are read before any write, so replaying an event writes nothing.

The GitHub token comes from ``GITHUB_TOKEN`` through the client and the
webhook secret travels as a :class:`Secret`, whose repr hides it, so neither
shows in DFFML's logs of the inputs.
"""
import asyncio
import collections
import hashlib
import hmac
import json
import logging
import threading
import time
from typing import Any, Dict, Optional

import github
from dffml import Definition, Input, op

from dffml_k8s_analysis.github.client import GitHubError, connect, split_repo, translated
from dffml_k8s_analysis.model.artifacts import cached_predictor
from operations import parse
from operations.github import BASE_URL, REPO

LOGGER = logging.getLogger(__name__)

MARKER = "<!-- RELNOTE_PREDICTION -->"
EVENTS = {"pull_request": "pull_request", "issues": "issue"}  # event -> payload member
ACTIONS = ("opened", "edited", "reopened")
SIGNATURE_HEADER = "X-Hub-Signature-256"
ATTEMPTS = 3  # whole reconciles, each re-reading the state first

WEBHOOK_BODY = Definition(name="webhook.body", primitive="bytes")
WEBHOOK_SIGNATURE = Definition(name="webhook.signature", primitive="str")
WEBHOOK_EVENT = Definition(name="webhook.event", primitive="str")
WEBHOOK_SECRET = Definition(name="webhook.secret", primitive="Secret")
WEBHOOK_REPO = Definition(name="webhook.only_repo", primitive="str", default="")
PAYLOAD = Definition(name="webhook.payload", primitive="Dict[str, Any]")
NUMBER = Definition(name="github.number", primitive="int")
ITEM = Definition(name="label.item", primitive="Dict[str, Any]")
MODEL_DIR = Definition(name="label.model_dir", primitive="str", default="out/model")
PREDICTION = Definition(name="label.prediction", primitive="Dict[str, Any]")
OUTCOME = Definition(name="label.outcome", primitive="Dict[str, Any]")


class WebhookError(ValueError):
    """A delivery refused before any GitHub call: ``status`` is the HTTP answer (401, 400)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Secret:
    """The webhook secret: signs and verifies bodies, never shows in a repr or a log."""

    __slots__ = ("_key",)

    def __init__(self, value: str):
        if not value:
            raise ValueError("the webhook secret is empty")
        self._key = value.encode()

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def sign(self, body: bytes) -> str:
        """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
        return "sha256=" + hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def verify(self, body: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(body).encode(), signature.encode("utf-8", "replace"))


def webhook_inputs(body: bytes, signature: str, event: str, secret: Secret, base_url: str, model_dir: str,
                   only_repo: str = "") -> list:
    """The label dataflow's inputs for one webhook delivery."""
    return [
        Input(value=body, definition=WEBHOOK_BODY),
        Input(value=signature, definition=WEBHOOK_SIGNATURE),
        Input(value=event, definition=WEBHOOK_EVENT),
        Input(value=secret, definition=WEBHOOK_SECRET),
        Input(value=only_repo, definition=WEBHOOK_REPO),
        Input(value=base_url, definition=BASE_URL),
        Input(value=model_dir, definition=MODEL_DIR),
    ]


def item_inputs(repo: str, number: int, base_url: str, model_dir: str) -> list:
    """The label dataflow's inputs for one issue or PR by number."""
    return [
        Input(value=repo, definition=REPO),
        Input(value=number, definition=NUMBER),
        Input(value=base_url, definition=BASE_URL),
        Input(value=model_dir, definition=MODEL_DIR),
    ]


async def _in_thread(func, *args):
    return await asyncio.get_event_loop().run_in_executor(None, func, *args)


@op(name="k8s.verify_webhook", inputs={"body": WEBHOOK_BODY, "signature": WEBHOOK_SIGNATURE, "secret": WEBHOOK_SECRET},
    outputs={"payload": PAYLOAD})
def verify_webhook(body: bytes, signature: str, secret: Secret) -> Dict[str, Any]:
    """The delivery's JSON payload; WebhookError 401 for a missing or wrong signature, 400 for bad JSON."""
    if not signature:
        raise WebhookError(401, f"missing {SIGNATURE_HEADER} header")
    if not secret.verify(body, signature):
        raise WebhookError(401, f"wrong {SIGNATURE_HEADER} signature")
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise WebhookError(400, f"the payload is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise WebhookError(400, f"the payload must be a JSON object, got {type(payload).__name__}")
    return {"payload": payload}


def ignored(reason: str) -> Dict[str, Any]:
    return {"outcome": {"ignored": reason}}


@op(name="k8s.webhook_item", inputs={"event": WEBHOOK_EVENT, "payload": PAYLOAD, "only_repo": WEBHOOK_REPO},
    outputs={"item": ITEM, "body": parse.BODY, "outcome": OUTCOME})
def webhook_item(event: str, payload: Dict[str, Any], only_repo: str) -> Dict[str, Any]:
    """The issue or PR of an opened/edited/reopened event and its body; other events are ignored."""
    if event not in EVENTS:
        return ignored(f"event {event or '(none)'!r} is not handled")
    action = payload.get("action")
    if action not in ACTIONS:
        return ignored(f"{event} action {action!r} is not handled")
    item = payload.get(EVENTS[event])
    repository = payload.get("repository")
    repo = repository.get("full_name") if isinstance(repository, dict) else None
    number = item.get("number") if isinstance(item, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or not isinstance(repo, str):
        raise WebhookError(400, f"a {event} payload needs {EVENTS[event]}.number and repository.full_name")
    if only_repo and repo.lower() != only_repo.lower():
        return ignored(f"repository {repo} is not {only_repo}")
    body = item.get("body")
    return {"item": {"repo": repo, "number": number}, "body": body if isinstance(body, str) else None}


@op(name="k8s.fetch_item", inputs={"repo": REPO, "number": NUMBER, "base_url": BASE_URL},
    outputs={"item": ITEM, "body": parse.BODY})
async def fetch_item(repo: str, number: int, base_url: str) -> Dict[str, Any]:
    """An issue or PR and its current body, from GitHub."""
    split_repo(repo)
    issue = await _in_thread(_get_issue, base_url, repo, number)
    return {"item": {"repo": repo, "number": number}, "body": issue.body}


def _get_issue(base_url: str, repo: str, number: int):
    with github_errors(repo, number):
        return connect(base_url).get_repo(repo, lazy=True).get_issue(number)


@op(name="k8s.predict_note", inputs={"note": parse.RELEASE_NOTE, "model_dir": MODEL_DIR},
    outputs={"prediction": PREDICTION})
async def predict_note(note: Optional[str], model_dir: str) -> Dict[str, Any]:
    """The probability of the model's label (``note`` None: no prediction) and its threshold."""
    if note is None:
        return {"prediction": {"note": None}}
    predictor = await _in_thread(cached_predictor, model_dir)
    return {"prediction": {"note": note, "label": predictor.label, "threshold": predictor.threshold,
                           "probability": predictor.predict([note])[0]}}


@op(name="k8s.reconcile_labels", inputs={"item": ITEM, "prediction": PREDICTION, "base_url": BASE_URL},
    outputs={"outcome": OUTCOME})
async def reconcile_labels(item: Dict[str, Any], prediction: Dict[str, Any], base_url: str) -> Dict[str, Any]:
    """Make the item's label and the bot's comment agree with the prediction; what was done."""
    return {"outcome": await _in_thread(reconcile, base_url, item["repo"], item["number"], prediction)}


# Reconciling (blocking: PyGithub)

_LOCKS: Dict[tuple, threading.Lock] = collections.defaultdict(threading.Lock)
_LOCKS_GUARD = threading.Lock()


def _item_lock(*key) -> threading.Lock:
    """One lock per item: concurrent deliveries for it reconcile one after the other."""
    with _LOCKS_GUARD:
        return _LOCKS[key]


def github_errors(repo: str, number: int):
    """PyGithub's exceptions about one item as one-line GitHubErrors."""
    return translated(f"{repo}#{number}", f"GitHub for {repo}#{number}")


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

"""GitHub webhook deliveries: check the signature, find the issue or PR an event is about.

``X-Hub-Signature-256`` is the HMAC-SHA256 of the raw body with the webhook
secret, compared in constant time; a delivery without it, or with a wrong one,
is refused before any GitHub call. ``pull_request`` and ``issues`` events whose
action is opened, edited, reopened, or labeled/unlabeled with a label the bot
manages (``kind/*``, ``sig/*``, ``needs-sig``: a person's choice updates the bot's
comment at once) are about an item; any other is ignored, with the reason. Only the item's repository, number and ``updated_at`` are taken
from a delivery: what to do is decided from the item as GitHub has it now. A labeled/unlabeled event's
``sender`` is kept only to skip the deliveries the bot's own label writes cause (the service does):
a claim that can spare work, never one that makes the bot act. A
number that is not a positive 32-bit integer is refused (400); an ``updated_at``
that is not GitHub's timestamp of a time not in the future is dropped (the
delivery is then never taken for a replay). The secret travels as a
:class:`Secret`, whose repr hides it.
"""
import datetime
import hashlib
import hmac
import json
from typing import Any, Dict, NamedTuple, Optional

from ..github.client import GitHubError, check_repo
from .rules import managed

EVENTS = {"pull_request": "pull_request", "issues": "issue"}  # event -> payload member
ACTIONS = ("opened", "edited", "reopened", "labeled", "unlabeled")
LABEL_ACTIONS = ("labeled", "unlabeled")  # handled for the labels the bot manages (rules.managed)
SIGNATURE_HEADER = "X-Hub-Signature-256"
DELIVERY_HEADER = "X-GitHub-Delivery"
MAX_NUMBER = 2**31 - 1  # GitHub's issue numbers are 32-bit, as the stores' INTEGER columns
TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"  # GitHub's updated_at
CLOCK_SKEW = datetime.timedelta(hours=1)  # an updated_at later than now by more is not GitHub's


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


def verify(body: bytes, signature: str, secret: Secret) -> Dict[str, Any]:
    """The delivery's JSON payload; WebhookError 401 for a missing or wrong signature, 400 for bad JSON."""
    if not signature:
        raise WebhookError(401, f"missing {SIGNATURE_HEADER} header")
    if not secret.verify(body, signature):
        raise WebhookError(401, f"wrong {SIGNATURE_HEADER} signature")
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise WebhookError(400, f"the payload is not valid JSON: {error}") from None
    except RecursionError:
        raise WebhookError(400, "the payload is JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise WebhookError(400, f"the payload must be a JSON object, got {type(payload).__name__}")
    return payload


class Event(NamedTuple):
    """What a delivery is about: the item (repo, number), its ``updated_at`` in the payload, or why it is ignored."""

    item: Optional[Dict[str, Any]] = None
    updated_at: Optional[str] = None
    ignored: Optional[str] = None
    label: Optional[str] = None  # a labeled/unlabeled event's label and its ``sender``'s login (else None)
    sender: Optional[str] = None


def item_of(event: str, payload: Dict[str, Any], only_repo: str = "") -> Event:
    """The issue or PR of an opened/edited/reopened event, or a labeled/unlabeled one of a managed label; other
    events are ignored; WebhookError 400 if malformed."""
    if event not in EVENTS:
        return Event(ignored=f"event {event or '(none)'!r} is not handled")
    action = payload.get("action")
    if action not in ACTIONS:
        return Event(ignored=f"{event} action {action!r} is not handled")
    item = payload.get(EVENTS[event])
    repository = payload.get("repository")
    repo = repository.get("full_name") if isinstance(repository, dict) else None
    number = item.get("number") if isinstance(item, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or not isinstance(repo, str):
        raise WebhookError(400, f"a {event} payload needs {EVENTS[event]}.number and repository.full_name")
    if not 1 <= number <= MAX_NUMBER:
        raise WebhookError(400, f"{EVENTS[event]}.number must be 1..{MAX_NUMBER}, got {number:.6g}")
    try:
        check_repo(repo)
    except GitHubError as error:
        raise WebhookError(400, f"repository.full_name: {error}") from None
    if only_repo and repo.lower() != only_repo.lower():
        return Event(ignored=f"repository {repo} is not {only_repo}")
    if action in LABEL_ACTIONS:
        label = payload.get("label")
        name = label.get("name") if isinstance(label, dict) else None
        if not isinstance(name, str) or not managed(name):
            shown = repr(name[:100]) if isinstance(name, str) else "(none)"
            return Event(ignored=f"{event} {action} {shown}: not a label the bot manages")
        sender = payload.get("sender")
        login = sender.get("login") if isinstance(sender, dict) else None
        return Event({"repo": repo, "number": number}, timestamp(item.get("updated_at")), None, f"{event} {action} "
                     f"{name[:100]!r}", login if isinstance(login, str) else None)
    return Event({"repo": repo, "number": number}, timestamp(item.get("updated_at")))


def timestamp(value) -> Optional[str]:
    """``value`` as GitHub writes it (``YYYY-MM-DDTHH:MM:SSZ``, compared as text) when it is such a time, not
    in the future; else None."""
    try:
        when = datetime.datetime.strptime(value, TIMESTAMP).replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None
    return when.strftime(TIMESTAMP) if when <= datetime.datetime.now(datetime.timezone.utc) + CLOCK_SKEW else None


def delivery_id(value: str) -> str:
    """The ``X-GitHub-Delivery`` header's id (a GUID); WebhookError 400 when missing or not one."""
    if not value or len(value) > 100 or not all(c.isascii() and (c.isalnum() or c == "-") for c in value):
        raise WebhookError(400, f"missing or malformed {DELIVERY_HEADER} header")
    return value

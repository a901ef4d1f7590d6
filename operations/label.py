"""The labeling bot as DFFML operations (``dataflows/label.yaml``).

Two ways in, one reconcile:

- a webhook delivery: ``k8s.verify_webhook`` checks its signature and parses
  the JSON; ``k8s.webhook_item`` keeps ``pull_request`` and ``issues`` events
  whose action is opened, edited, reopened, or labeled/unlabeled with a label
  the bot manages (anything else becomes an
  "ignored" outcome);
- an item by number (``k8s.number_item``: ``github.repo`` + ``github.number``),
  as ``k8s-analysis label`` and the service's webhook queue run it.

Both give the item; ``k8s.fetch_item`` reads its body and labels as GitHub has them now
(never the delivery's copy), ``k8s.release_note`` (the records' rules) extracts the note,
``k8s.predict_note`` predicts from the note and the item's sig/area labels, ``k8s.reconcile_labels``
makes GitHub agree. The bot itself is ``dffml_k8s_analysis.bot``: the
deliveries in ``webhook.py``, the label and the comment in ``reconcile.py``.

The GitHub token comes from ``GITHUB_TOKEN`` through the client and the
webhook secret travels as a :class:`~dffml_k8s_analysis.bot.webhook.Secret`,
whose repr hides it, so neither shows in DFFML's logs of the inputs.
"""
import asyncio
import contextlib
import contextvars
import threading
from typing import Any, Dict, List, Optional

from dffml import Definition, op

from dffml_k8s_analysis.bot import reconcile, webhook
from dffml_k8s_analysis.bot.rules import MODES
from dffml_k8s_analysis.bot.webhook import Secret
from dffml_k8s_analysis.github.client import check_repo
from dffml_k8s_analysis.model.artifacts import cached_predictor
from dffml_k8s_analysis.records.parse import model_inputs
from operations import parse
from operations.github import BASE_URL, REPO

WEBHOOK_BODY = Definition(name="webhook.body", primitive="bytes")
WEBHOOK_SIGNATURE = Definition(name="webhook.signature", primitive="str")
WEBHOOK_EVENT = Definition(name="webhook.event", primitive="str")
WEBHOOK_SECRET = Definition(name="webhook.secret", primitive="Secret")
WEBHOOK_REPO = Definition(name="webhook.only_repo", primitive="str", default="")
PAYLOAD = Definition(name="webhook.payload", primitive="Dict[str, Any]")
NUMBER = Definition(name="github.number", primitive="int")
ITEM = Definition(name="label.item", primitive="Dict[str, Any]")
LABELS = Definition(name="label.labels", primitive="List[str]")  # the item's label names on GitHub now (+ docs/linked)
MODEL_DIR = Definition(name="label.model_dir", primitive="str", default="out/model")
PREDICTION = Definition(name="label.prediction", primitive="Dict[str, Any]")
OUTCOME = Definition(name="label.outcome", primitive="Dict[str, Any]")
MODE = Definition(name="label.mode", primitive="str", default="act")  # act, suggest or shadow (bot/rules.py)
APPLY_SIGS = Definition(name="label.apply_sigs", primitive="bool", default=False)  # a sig/* label, not only a suggestion


async def _in_thread(func, *args):
    """``func(*args)`` in a daemon thread of its own, in this task's context (the queue's
    ``reconcile.ATTEMPT``): a GitHub call still running when ``serve`` stops never holds the process."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    context = contextvars.copy_context()

    def run():
        try:
            settle = future.set_result, context.run(func, *args)
        except BaseException as error:  # handed to the awaiting task
            settle = future.set_exception, error
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
            loop.call_soon_threadsafe(_settle, future, *settle)

    threading.Thread(target=run, name="k8s-analysis-label", daemon=True).start()
    return await future


def _settle(future: asyncio.Future, setter, value) -> None:
    if not future.cancelled():
        setter(value)


@op(name="k8s.verify_webhook", inputs={"body": WEBHOOK_BODY, "signature": WEBHOOK_SIGNATURE, "secret": WEBHOOK_SECRET},
    outputs={"payload": PAYLOAD})
def verify_webhook(body: bytes, signature: str, secret: Secret) -> Dict[str, Any]:
    """The delivery's JSON payload; WebhookError 401 for a missing or wrong signature, 400 for bad JSON."""
    return {"payload": webhook.verify(body, signature, secret)}


@op(name="k8s.webhook_item", inputs={"event": WEBHOOK_EVENT, "payload": PAYLOAD, "only_repo": WEBHOOK_REPO},
    outputs={"item": ITEM, "outcome": OUTCOME})
def webhook_item(event: str, payload: Dict[str, Any], only_repo: str) -> Dict[str, Any]:
    """The issue or PR of an opened/edited/reopened event, or a labeled/unlabeled one of a label the bot manages;
    other events are ignored."""
    found = webhook.item_of(event, payload, only_repo)
    if found.ignored:
        return {"outcome": {"ignored": found.ignored}}
    return {"item": found.item}


@op(name="k8s.number_item", inputs={"repo": REPO, "number": NUMBER}, outputs={"item": ITEM})
def number_item(repo: str, number: int) -> Dict[str, Any]:
    """The issue or PR ``number`` of ``repo`` (OWNER/NAME, checked)."""
    return {"item": {"repo": check_repo(repo), "number": number}}


@op(name="k8s.fetch_item", inputs={"item": ITEM, "base_url": BASE_URL}, outputs={"body": parse.BODY, "labels": LABELS})
async def fetch_item(item: Dict[str, Any], base_url: str) -> Dict[str, Any]:
    """The item's body and label names as GitHub has them now (plus ``docs/linked`` when the body
    links documentation: a model input, see ``records.parse``)."""
    body, labels = await _in_thread(reconcile.issue_body_and_labels, base_url, item["repo"], item["number"])
    return {"body": body, "labels": model_inputs(labels, body)}


@op(name="k8s.predict_note", inputs={"note": parse.RELEASE_NOTE, "labels": LABELS, "model_dir": MODEL_DIR},
    outputs={"prediction": PREDICTION})
async def predict_note(note: Optional[str], labels: List[str], model_dir: str) -> Dict[str, Any]:
    """The probability of the model's label given the note and the item's labels (``note`` None: no
    prediction), its threshold, its band (act, suggest, none), the note's words that weighed most (in the
    act and suggest bands) and, with a SIG router, the top SIGs."""
    if note is None:
        return {"prediction": {"note": None}}
    predictor = await _in_thread(cached_predictor, model_dir)
    probability = predictor.predict([note], [labels])[0]
    band = predictor.band(probability)
    prediction = {"note": note, "label": predictor.label, "threshold": predictor.threshold, "probability": probability,
                  "act": predictor.act, "band": band,
                  "words": await _in_thread(predictor.weighed, note, labels) if band != "none" else []}
    if predictor.sigs:
        prediction["sigs"] = predictor.route([note])[0]
    return {"prediction": prediction}


@op(name="k8s.reconcile_labels", inputs={"item": ITEM, "prediction": PREDICTION, "base_url": BASE_URL, "mode": MODE,
                                         "apply_sigs": APPLY_SIGS},
    outputs={"outcome": OUTCOME})
async def reconcile_labels(item: Dict[str, Any], prediction: Dict[str, Any], base_url: str, mode: str,
                           apply_sigs: bool) -> Dict[str, Any]:
    """Make the item's labels and the bot's comment agree with the prediction under the bot's rules in ``mode``
    (act, suggest, shadow: see ``bot/rules.py``); what was done, or in shadow mode what would be."""
    if mode not in MODES:
        raise ValueError(f"label.mode must be one of {', '.join(MODES)}, got {mode!r}")
    return {"outcome": await _in_thread(reconcile.reconcile, base_url, item["repo"], item["number"], prediction, mode,
                                        bool(apply_sigs))}

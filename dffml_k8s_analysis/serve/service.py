"""The prediction service: the original's KFServing-style routes and the labeling webhook.

Routes (JSON in and out; errors are ``{"error": "..."}``):

- ``POST /v1/models/kubernetes-analysis:predict``: ``{"text": "..."}`` ->
  ``{"result": p}``; ``{"instances": ["...", ...]}`` -> ``{"predictions": [p, ...]}``
  (p: the probability of the model's label, kind/bug by default); optional PR
  labels: ``"labels": ["sig/node", ...]`` beside ``text`` (``docs/linked`` too when
  the PR's ```docs block links documentation, as the bot adds), and instances as
  ``{"text": "...", "labels": [...]}``;
- ``GET /v1/models/kubernetes-analysis``: readiness, 200 with the model's
  labels and thresholds once loaded, 503 with the reason otherwise;
- ``GET /healthz``: liveness, 200 while the process serves;
- ``POST /webhook``: GitHub deliveries: 401 unsigned, 400 malformed, 200
  ignored (another event, a delivery id seen before), 202 queued (the label
  dataflow runs in the background, :mod:`.deliveries`), 503 without a secret
  or a model;
- ``GET /webhook/deliveries/{id}``: what became of a delivery (queued, done,
  ignored, failed) and its outcome.

Bad input: invalid or too deeply nested JSON, a missing ``text``, wrong types
-> 400 naming the problem; a body over 1 MiB -> 413; a body not sent within
the read timeout -> the connection is closed; unknown route -> 404; wrong
method -> 405. Every connection keeps :mod:`~dffml_k8s_analysis.http_limits`.
Only these routes exist, so the service is safe to expose; it binds
127.0.0.1 unless told otherwise. DFFML's own HTTP API
(``dffml service http server -models ...``) serves the same model directory
with all of DFFML's routes (training, sources), so keep that one on loopback.
"""
import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
from typing import Callable, Iterator, Optional

from aiohttp import web

from .. import background
from ..bot import webhook as deliveries_in
from ..bot.state import BotState
from ..bot.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, Secret, WebhookError
from ..github.client import DEFAULT_BASE_URL
from ..http_limits import BodyTimeout, Limits, read_body as read_within_limits, start_site
from ..model import artifacts
from ..model.artifacts import ArtifactError
from .deliveries import MODEL_NOT_LOADED, DeliveryQueue

LOGGER = logging.getLogger(__name__)

MODEL_NAME = "kubernetes-analysis"
MODEL_ROUTE = f"/v1/models/{MODEL_NAME}"
PREDICT_ROUTE = MODEL_ROUTE + ":predict"
MAX_BODY = 1024 * 1024


@dataclasses.dataclass
class ServeConfig:
    model_dir: str
    base_url: str = DEFAULT_BASE_URL
    repo: str = ""  # webhook: only this repository's events (empty: any)
    secret: Optional[Secret] = None  # None disables the webhook
    state: str = "out/bot/state.sqlite"  # the bot's memory, shared by the replicas (bot.state)
    limits: Limits = Limits()
    retry_backoff_s: float = 1.0  # the webhook queue's first wait before trying GitHub again


class Failure(Exception):
    """An answer other than 200: ``status`` and the message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ModelState:
    """The predictor, loaded in a worker thread at start and again whenever the model's files change."""

    def __init__(self, model_dir: str):
        self.model_dir = model_dir
        self.predictor = None
        self.version = None
        self.problem = "the model is loading"  # for the server's own output: it may name paths
        self.loading: Optional[asyncio.Future] = None

    def begin(self) -> None:
        """Start the first load (once the server listens, so a failed bind leaves no thread behind)."""
        self.loading = asyncio.ensure_future(self.load())

    async def load(self) -> None:
        self.version = artifacts.version(self.model_dir)
        try:
            self.predictor = await asyncio.get_event_loop().run_in_executor(None, artifacts.cached_predictor,
                                                                            self.model_dir)
        except ArtifactError as error:
            self.predictor, self.problem = None, str(error)
            LOGGER.error("model not loaded: %s", error)

    async def current(self):
        """The predictor of the model directory as it is now; Failure 503 (naming no path) when there is none."""
        if self.version is not None and artifacts.version(self.model_dir) != self.version:
            await self.load()
        if self.predictor is None:
            raise Failure(503, "the model is loading" if self.version is None else MODEL_NOT_LOADED)
        return self.predictor


STATE = web.AppKey("state", ModelState)
QUEUE = web.AppKey("queue", DeliveryQueue)


def texts_of(data) -> tuple:
    """(texts, label lists, batch?) of a predict body; Failure 400 naming what is wrong."""
    if not isinstance(data, dict):
        raise Failure(400, f'the body must be a JSON object with "text" or "instances", got {kind(data)}')
    if "text" in data and "instances" in data:
        raise Failure(400, 'give "text" or "instances", not both')
    if "text" not in data and "instances" not in data:
        raise Failure(400, 'missing "text" (a string) or "instances" (a list of strings)')
    if "text" in data:
        if not isinstance(data["text"], str):
            raise Failure(400, f'"text" must be a string, got {kind(data["text"])}')
        return [data["text"]], [labels_of(data, '"labels"')], False
    instances = data["instances"]
    if not isinstance(instances, list):
        raise Failure(400, f'"instances" must be a list of strings, got {kind(instances)}')
    texts, label_lists = [], []
    for index, text in enumerate(instances):
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            text, labels = text["text"], labels_of(text, f'"instances"[{index}]["labels"]')
        else:
            labels = []
        if not isinstance(text, str):
            raise Failure(400, f'"instances"[{index}] must be a string or {{"text": ..., "labels": [...]}}, got {kind(text)}')
        texts.append(text)
        label_lists.append(labels)
    return texts, label_lists, True


def labels_of(data: dict, where: str) -> list:
    """The optional "labels" of a body or an instance: a list of strings (the PR's labels)."""
    labels = data.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise Failure(400, f"{where} must be a list of strings, got {kind(labels)}")
    return labels


def kind(value) -> str:
    """A JSON value's type in JSON's words."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Failure(413, f"the body is {request.content_length} bytes; the limit is {MAX_BODY}")
    try:
        return await read_within_limits(request)
    except web.HTTPRequestEntityTooLarge:
        raise Failure(413, f"the body is over the limit of {MAX_BODY} bytes") from None
    except BodyTimeout as error:
        raise Failure(408, str(error)) from None


async def read_json(request: web.Request):
    body = await read_body(request)
    try:
        return json.loads(body)
    except ValueError as error:  # includes bad UTF-8
        raise Failure(400, f"invalid JSON: {error}") from None
    except RecursionError:
        raise Failure(400, "invalid JSON: nested too deeply") from None


def build_app(config: ServeConfig) -> web.Application:
    """The service's aiohttp application; the model starts loading when it starts."""
    state = ModelState(config.model_dir)

    async def predict(request: web.Request) -> web.Response:
        predictor = await state.current()
        texts, label_lists, batch = texts_of(await read_json(request))
        probabilities = predictor.predict(texts, label_lists) if texts else []
        return web.json_response({"predictions": probabilities} if batch else {"result": probabilities[0]})

    async def readiness(request: web.Request) -> web.Response:
        predictor = await state.current()
        return web.json_response({"name": MODEL_NAME, "ready": True, "label": predictor.label,
                                  "threshold": predictor.threshold, "labels": predictor.labels,
                                  "thresholds": predictor.thresholds})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def queue() -> DeliveryQueue:
        if config.secret is None:
            raise Failure(503, "the webhook is disabled: set WEBHOOK_SECRET")
        return app[QUEUE]

    async def webhook(request: web.Request) -> web.Response:
        deliveries = queue()
        body = await read_body(request)
        try:
            payload = deliveries_in.verify(body, request.headers.get(SIGNATURE_HEADER, ""), config.secret)
            event = deliveries_in.item_of(request.headers.get("X-GitHub-Event", ""), payload, config.repo)
            if event.ignored:
                return web.json_response({"ignored": event.ignored})
            delivery = deliveries_in.delivery_id(request.headers.get(DELIVERY_HEADER, ""))
        except WebhookError as error:
            raise Failure(error.status, str(error)) from None
        await state.current()  # no model: 503, and GitHub delivers again later
        if not deliveries.submit(delivery, event.item, event.updated_at):
            return web.json_response({"ignored": f"delivery {delivery} was received before", "delivery": delivery})
        return web.json_response(dict(event.item, queued=delivery), status=202)

    async def delivery(request: web.Request) -> web.Response:
        found = queue().state.delivery(request.match_info["id"])
        if found is None:
            raise Failure(404, f"no delivery {request.match_info['id']} among those remembered")
        return web.json_response(found)

    async def start_queue(app: web.Application) -> None:
        app[QUEUE].start()

    async def stop_queue(app: web.Application) -> None:
        await app[QUEUE].stop()

    app = web.Application(middlewares=[errors_as_json], client_max_size=MAX_BODY)
    app.add_routes([
        web.post(PREDICT_ROUTE, predict),
        web.get(MODEL_ROUTE, readiness),
        web.get("/healthz", health),
        web.post("/webhook", webhook),
        web.get("/webhook/deliveries/{id}", delivery),
    ])
    if config.secret is not None:
        app[QUEUE] = DeliveryQueue(BotState(config.state), config.base_url, config.model_dir, config.retry_backoff_s)
        app.on_startup.append(start_queue)
        app.on_cleanup.append(stop_queue)
    app[STATE] = state
    return app


@web.middleware
async def errors_as_json(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Every error as ``{"error": message}``; unexpected ones logged and answered 500."""
    try:
        return await handler(request)
    except Failure as failure:
        return web.json_response({"error": str(failure)}, status=failure.status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return web.json_response({"error": f"{error.reason}: {request.method} {request.path}"}, status=error.status)
    except Exception:
        LOGGER.exception("error answering %s %s", request.method, request.path)
        return web.json_response({"error": "internal server error"}, status=500)


async def start(config: ServeConfig, host: str, port: int) -> web.AppRunner:
    """Serve on ``host:port`` (0: a free port), then load the model; the bound port is ``runner.addresses[0][1]``."""
    runner = await start_site(build_app(config), host, port, config.limits)
    runner.app[STATE].begin()
    return runner


async def serve_forever(config: ServeConfig, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM; ``announce`` is told the URL once bound, then whether the model loaded."""
    runner = await start(config, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_event_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        announce(f"serving {config.model_dir} on http://{host}:{runner.addresses[0][1]}")
        state = runner.app[STATE]
        await state.loading
        announce("model ready" if state.predictor else f"model not loaded: {state.problem}")
        await stop.wait()
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def running(config: ServeConfig, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve from a background thread on a free port; yields the base URL once the model load finished."""
    with background.in_thread(lambda: start(config, host, 0), "k8s-analysis-serve") as (loop, runner):
        loading = runner.app[STATE].loading
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(loading, None), loop).result()  # loaded or failed
        yield f"http://{host}:{runner.addresses[0][1]}"

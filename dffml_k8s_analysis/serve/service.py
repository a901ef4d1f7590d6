"""The prediction service: the original's KFServing-style routes and the labeling webhook.

Routes (JSON in and out; errors are ``{"error": "..."}``):

- ``POST /v1/models/kubernetes-analysis:predict``: ``{"text": "..."}`` ->
  ``{"result": p}``; ``{"instances": ["...", ...]}`` -> ``{"predictions": [p, ...]}``
  (p: the probability of the model's label, kind/bug by default), with ``"band"`` (``"bands"``:
  one each): ``act``, ``suggest`` or ``none`` (``classifier.Predictor.band``) and, when the model
  has a SIG router, ``"sigs"``: ``{"sigs": [{"sig", "probability"} x 3], "confident": bool}``; optional PR
  labels: ``"labels": ["sig/node", ...]`` beside ``text`` (``docs/linked`` too when
  the PR's ```docs block links documentation, as the bot adds), and instances as
  ``{"text": "...", "labels": [...]}``;
- ``GET /v1/models/kubernetes-analysis``: readiness, 200 with the model's
  labels and thresholds once loaded, 503 with the reason otherwise;
- ``GET /healthz``: liveness, 200 while the process serves;
- ``POST /webhook``: GitHub deliveries: 401 unsigned, 400 malformed, 200
  ignored (another event, a delivery id seen before), 202 queued (the label
  dataflow runs in the background, :mod:`.deliveries`), 503 without a secret
  or a model, or with ``Retry-After`` when the queue is full;
- ``GET /webhook/deliveries/{id}``: what became of a delivery (queued, done,
  ignored, failed) and its outcome.

The model comes from a registry (``model.registry``): a directory, checked at
every request, or a store, asked every ``poll_s`` seconds which version serves
and which is the canary. Predictions carry the ``X-Model-Version`` header; while
a canary runs both models answer, the request's hash picks the answer
(``model.canary``) and one instance of the request is recorded in the store, within
per-client and per-canary bounds. Predictions are computed in worker threads
(:data:`PREDICT_THREADS`, at most :data:`PREDICT_SLOTS` requests past their wait for a
slot), so health probes answer while big batches are worked on. A version that cannot
be used (a bad row or archive) is logged in one line and does not answer: the other
one does, and readiness is 503 while no version can serve.

Bad input: invalid or too deeply nested JSON, a missing ``text``, wrong types
-> 400 naming the problem; a body over 1 MiB, more than :data:`MAX_INSTANCES`
instances or a text over :data:`MAX_TEXT_BYTES` -> 413; a body not sent within
the read timeout -> the connection is closed; unknown route -> 404; wrong
method -> 405. Every connection keeps :mod:`~dffml_k8s_analysis.http_limits`.
Only these routes exist, so the service is safe to expose; it binds
127.0.0.1 unless told otherwise. DFFML's own HTTP API
(``dffml service http server -models ...``) serves the same model directory
with all of DFFML's routes (training, sources), so keep that one on loopback.
"""
import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import signal
import time
from typing import Callable, Iterator, Optional

from aiohttp import web

from .. import background
from ..bot import webhook as deliveries_in
from ..bot.rules import BotMode
from ..bot.state import BotState, QueueFull, state_spec
from ..bot.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, Secret, WebhookError
from ..github.client import DEFAULT_BASE_URL
from ..http_limits import BodyTimeout, Limits, read_body as read_within_limits, start_site
from ..model import canary
from ..model.artifacts import ArtifactError
from ..model.classifier import Predictor
from ..model.registry import Routing, open_registry
from ..store import StoreError, redact
from .deliveries import MODEL_NOT_LOADED, DeliveryQueue

LOGGER = logging.getLogger(__name__)

MODEL_NAME = "kubernetes-analysis"
MODEL_ROUTE = f"/v1/models/{MODEL_NAME}"
PREDICT_ROUTE = MODEL_ROUTE + ":predict"
MAX_BODY = 1024 * 1024
VERSION_HEADER = "X-Model-Version"  # which model version answered a prediction
FULL_RETRY_AFTER_S = 60  # a delivery refused because the queue is full: when to send it again
MODEL_WAIT_S = 0.5  # the webhook's workers ask at least this often whether a model is usable
MAX_INSTANCES = 1000  # texts in one prediction request
MAX_TEXT_BYTES = 64 * 1024  # one text, UTF-8
PREDICT_THREADS = 2  # predictions computed at once, off the event loop
PREDICT_SLOTS = 4  # requests read and predicted at once; the others wait, their bodies unread
RETRY = ("retry",)  # the routing token after a store failure while loading: the next poll tries again


@dataclasses.dataclass
class ServeConfig:
    models: str  # the model registry's spec: a directory or a store (model.registry)
    base_url: str = DEFAULT_BASE_URL
    repo: str = ""  # webhook: only this repository's events (empty: any)
    secret: Optional[Secret] = None  # None disables the webhook
    state: str = ""  # the bot's memory, shared by the replicas (empty: bot.state.state_spec's default)
    limits: Limits = Limits()
    retry_backoff_s: float = 1.0  # the webhook queue's first wait before trying GitHub again
    poll_s: float = 2.0  # a store registry is asked this often which versions serve (0: at every request)
    bot: BotMode = BotMode()  # the webhook bot's mode (act, suggest, shadow) and whether it applies sig/* labels
    catch_up_s: float = 0  # with ``repo``: sweep the items updated since the last sweep this often (0: never)


class Failure(Exception):
    """An answer other than 200: ``status`` and the message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.headers = status, headers


@dataclasses.dataclass
class Models:
    """Who answers now: the serving version and, while one runs, the canary (None if it failed to load)."""

    routing: Routing
    serving: Predictor
    canary: Optional[Predictor] = None
    canary_problem: str = ""


class ModelState:
    """The registry's serving (and canary) predictors, loaded in a worker thread at start and whenever they change.

    The registry is used from one thread only (its store connection stays open); predictions are computed
    in threads of their own.
    """

    def __init__(self, config: ServeConfig):
        self.registry = open_registry(config.models, keep_open=True)
        self.poll_s = config.poll_s
        self.worker = concurrent.futures.ThreadPoolExecutor(1, "k8s-analysis-models")
        self.predictors = concurrent.futures.ThreadPoolExecutor(PREDICT_THREADS, "k8s-analysis-predict")
        self.slots = asyncio.Semaphore(PREDICT_SLOTS)
        self.budget = canary.Budget()
        self.models: Optional[Models] = None
        self.predictor = None
        self.version = None  # the routing token loaded
        self.checked = 0.0  # when the registry was last asked
        self.problem = "the model is loading"  # for the server's own output: it may name paths
        self.unreachable = False  # the registry's store failed (logged once until it answers again)
        self.loading: Optional[asyncio.Future] = None
        self.tried = asyncio.Event()  # set once the first load ended, loaded or not

    def begin(self) -> None:
        """Start the first load (once the server listens, so a failed bind leaves no thread behind)."""
        self.loading = asyncio.ensure_future(self.load())

    async def call(self, function, *args):
        return await asyncio.get_event_loop().run_in_executor(self.worker, function, *args)

    def store_failed(self, error: StoreError) -> None:
        if not self.unreachable:
            LOGGER.error("cannot read the model registry (tried again every poll): %s", error)
        self.unreachable = True

    async def load(self, routing: Optional[Routing] = None) -> None:
        try:
            routing = routing or await self.call(self.registry.routing)
            self.checked = time.monotonic()
            self.version = routing.token
            self.models = await self.call(self._predictors, routing)
            self.predictor = self.models.serving
            self.unreachable = False
        except ArtifactError as error:  # this routing is unusable until it changes: one line
            self.models, self.predictor, self.problem = None, None, str(error)
            self.version = self.version or RETRY
            LOGGER.error("model not loaded: %s", error)
        except StoreError as error:
            self.models, self.predictor, self.problem = None, None, str(error)
            self.version = RETRY
            self.store_failed(error)
        finally:
            self.tried.set()

    def _predictors(self, routing: Routing) -> Models:
        """Load the live versions; one that fails is logged and does not answer, the other does."""
        loaded, problems = {}, {}
        for stamp in filter(None, (routing.serving, routing.canary)):
            try:
                loaded[stamp] = self.registry.load(stamp)
            except ArtifactError as error:
                problems[stamp] = str(error)
        self.registry.forget_others(list(loaded))
        if routing.serving in loaded:
            models = Models(routing, loaded[routing.serving], loaded.get(routing.canary))
            if routing.canary in problems:  # the serving model answers; the canary's record says it failed
                models.canary_problem = f"canary not loaded: {problems[routing.canary]}"
                LOGGER.error("%s", models.canary_problem)
            return models
        if routing.canary in loaded:
            LOGGER.error("serving version not loaded: %s; the canary %s answers every prediction",
                         problems.get(routing.serving, "there is none"), routing.canary)
            return Models(routing._replace(serving=routing.canary, canary=None, share=0.0), loaded[routing.canary])
        raise ArtifactError(problems.get(routing.serving) or f"no serving model in {redact(self.registry.spec)}: "
                            f"run `k8s-analysis pipeline --models {redact(self.registry.spec)}`")

    async def current(self) -> Models:
        """Who answers now; Failure 503 (naming no path) when no model is loaded."""
        if self.version is not None and (not self.registry.poll or time.monotonic() - self.checked >= self.poll_s):
            try:  # a directory's link is one stat, read here; a store is asked in the registry's thread
                routing = await self.call(self.registry.routing) if self.registry.poll else self.registry.routing()
            except StoreError as error:  # keep serving what is loaded
                self.store_failed(error)
            else:
                self.checked = time.monotonic()
                if routing.token != self.version or not routing.intact:
                    await self.load(routing)
                elif self.models is not None:
                    self.unreachable = False
        if self.models is None:
            raise Failure(503, "the model is loading" if self.version is None else MODEL_NOT_LOADED)
        return self.models

    async def serving_directory(self) -> str:
        """A local directory of the serving version's files (the webhook's label dataflow reads it), once
        one is loaded: waits for it, asking the registry again every ``poll_s`` (at least MODEL_WAIT_S)."""
        await self.tried.wait()
        while True:
            with contextlib.suppress(Failure):
                return self.registry.directory((await self.current()).routing.serving)
            await asyncio.sleep(max(self.poll_s, MODEL_WAIT_S))

    async def predict(self, models: Models, texts: list, label_lists: list, client: Optional[str]) -> tuple:
        """The probabilities and the version that answers, computed off the event loop; while a canary runs,
        both answer and one instance of the request is recorded (within :class:`canary.Budget`)."""
        if not texts:
            return [], models.routing.serving
        loop = asyncio.get_event_loop()
        answer, row = await loop.run_in_executor(self.predictors, self._predict, models, texts, label_lists,
                                                 canary.client_key(client))
        if row is not None and self.budget.admit(row[1], row[0].partition("/")[0]):
            try:
                await self.call(self.registry.record, [row])
            except StoreError as failure:
                LOGGER.error("cannot record the canary's observations: %s", failure)
        return answer

    @staticmethod
    def _predict(models: Models, texts: list, label_lists: list, client: str) -> tuple:
        """((probabilities, version), the canary's observation or None), in a predicting thread."""
        serving, routing = models.serving, models.routing
        if routing.canary is None:
            return (serving.predict(texts, label_lists), routing.serving), None
        started = time.perf_counter()
        serving_p = serving.predict(texts, label_lists)
        serving_ms = (time.perf_counter() - started) * 1000
        canary_p, canary_ms, error = None, None, models.canary_problem or None
        if models.canary is not None:
            started = time.perf_counter()
            try:
                canary_p = models.canary.predict(texts, label_lists)
                canary_ms = (time.perf_counter() - started) * 1000
            except Exception as failure:  # the canary's failure is recorded, never the client's problem
                error = f"{type(failure).__name__}: {failure}"
                LOGGER.error("canary %s failed: %s", routing.canary, error)
        answered_by = "canary" if canary_p is not None and canary.to_canary(
            texts, label_lists, routing.canary, routing.share) else "serving"
        row = canary.observation(routing.serving, routing.canary, client, answered_by, serving_p, serving.threshold,
                                 serving_ms, canary_p, models.canary.threshold if models.canary else 0.0,
                                 canary_ms, error)
        answer = (canary_p, routing.canary) if answered_by == "canary" else (serving_p, routing.serving)
        return answer, row

    async def close(self) -> None:
        await self.call(self.registry.close)
        self.worker.shutdown()
        self.predictors.shutdown()


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
        return [within_limit(data["text"], '"text"')], [labels_of(data, '"labels"')], False
    instances = data["instances"]
    if not isinstance(instances, list):
        raise Failure(400, f'"instances" must be a list of strings, got {kind(instances)}')
    if len(instances) > MAX_INSTANCES:
        raise Failure(413, f'{len(instances)} instances; the limit is {MAX_INSTANCES} a request')
    texts, label_lists = [], []
    for index, text in enumerate(instances):
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            text, labels = text["text"], labels_of(text, f'"instances"[{index}]["labels"]')
        else:
            labels = []
        if not isinstance(text, str):
            raise Failure(400, f'"instances"[{index}] must be a string or {{"text": ..., "labels": [...]}}, got {kind(text)}')
        texts.append(within_limit(text, f'"instances"[{index}]'))
        label_lists.append(labels)
    return texts, label_lists, True


def described(predictor: Predictor, texts: list, probabilities: list, batch: bool) -> dict:
    """The answer: each probability, its band (act, suggest, none) and, with a SIG router, the top SIGs."""
    bands = [predictor.band(p) for p in probabilities]
    routes = predictor.route(texts) if predictor.sigs and texts else None
    if batch:
        return dict({"predictions": probabilities, "bands": bands}, **({"sigs": routes} if routes else {}))
    return dict({"result": probabilities[0], "band": bands[0]}, **({"sigs": routes[0]} if routes else {}))


def within_limit(text: str, where: str) -> str:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise Failure(413, f"{where} is {size} bytes; the limit is {MAX_TEXT_BYTES} a text")
    return text


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


@contextlib.contextmanager
def memory():
    """The bot's state store failing (the database restarting): 503 to the client, the reason in the log."""
    try:
        yield
    except StoreError as error:
        LOGGER.error("the bot's state: %s", error)
        raise Failure(503, "the bot's state cannot be reached; try again later") from None


def build_app(config: ServeConfig) -> web.Application:
    """The service's aiohttp application; the model starts loading when it starts."""
    state = ModelState(config)

    async def predict(request: web.Request) -> web.Response:
        models = await state.current()
        async with state.slots:  # the body is read once a slot is free: waiting requests hold no memory
            texts, label_lists, batch = texts_of(await read_json(request))
            probabilities, version = await state.predict(models, texts, label_lists, request.remote)
            answering = models.canary if models.canary is not None and version == models.routing.canary else models.serving
            answer = await asyncio.to_thread(described, answering, texts, probabilities, batch)
        return web.json_response(answer, headers={VERSION_HEADER: version})

    async def readiness(request: web.Request) -> web.Response:
        models = await state.current()
        predictor, routing = models.serving, models.routing
        canary_now = {"version": routing.canary, "share": routing.share} if routing.canary else None
        return web.json_response({"name": MODEL_NAME, "ready": True, "label": predictor.label,
                                  "threshold": predictor.threshold, "labels": predictor.labels,
                                  "thresholds": predictor.thresholds, "version": routing.serving,
                                  "canary": canary_now})

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
        own = deliveries.own_login()
        if own is not None and event.sender is not None and event.sender.lower() == own.lower():
            LOGGER.debug("delivery %s skipped: %s by the bot's own account", delivery, event.label)
            with memory():
                await deliveries.state.own_write(event.item["repo"])
            return web.json_response({"ignored": f"{event.label} by the bot's own account {own}: its own write"})
        await state.current()  # no model: 503, and GitHub delivers again later
        with memory():
            try:
                received = await deliveries.submit(delivery, event.item, event.updated_at)
            except QueueFull as error:  # refused before any 202: GitHub's delivery fails and can be redelivered
                LOGGER.error("delivery %s refused: %s", delivery, error)
                raise Failure(503, f"the queue is full ({error}); try again later",
                              {"Retry-After": str(FULL_RETRY_AFTER_S)}) from None
        if not received:
            return web.json_response({"ignored": f"delivery {delivery} was received before", "delivery": delivery})
        return web.json_response(dict(event.item, queued=delivery), status=202)

    async def delivery(request: web.Request) -> web.Response:
        with memory():
            found = await queue().state.delivery(request.match_info["id"])
        if found is None:
            raise Failure(404, f"no delivery {request.match_info['id']} among those remembered")
        return web.json_response(found)

    async def start_queue(app: web.Application) -> None:
        await app[QUEUE].start()

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
        app[QUEUE] = DeliveryQueue(BotState(state_spec(config.state, config.models)), config.base_url,
                                   state.serving_directory, config.retry_backoff_s, config.bot, config.repo,
                                   config.catch_up_s)
        app.on_startup.append(start_queue)
        app.on_cleanup.append(stop_queue)

    async def close_models(app: web.Application) -> None:
        await state.close()

    app.on_cleanup.append(close_models)
    app[STATE] = state
    return app


@web.middleware
async def errors_as_json(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Every error as ``{"error": message}``; unexpected ones logged and answered 500."""
    try:
        return await handler(request)
    except Failure as failure:
        return web.json_response({"error": str(failure)}, status=failure.status, headers=failure.headers)
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
        announce(f"serving {redact(config.models)} on http://{host}:{runner.addresses[0][1]}")
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

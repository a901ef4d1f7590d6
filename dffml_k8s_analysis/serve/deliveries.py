"""The webhook's work queue: deliveries are answered at once and labelled in the background.

The webhook records a new delivery in the shared :class:`~dffml_k8s_analysis.bot.state.BotState`
and answers 202; workers take it from here. The queue is the one owner of
retries (a request is retried by urllib3 only, see ``bot/reconcile.py``):

- a worker first waits for a usable model, so nothing is taken before the
  model has loaded (a rolling update's new replica);
- it takes the item's lease without waiting: while another holder has the
  item, the delivery is tried again :data:`BUSY_S` later and the worker takes
  another; the lease is renewed every :data:`RENEW_S` while the attempt runs,
  so a replica that died frees its items within ``LEASE_S``;
- under the lease it skips a delivery whose ``updated_at`` is older than
  what was applied, else runs the label dataflow on the item as GitHub has it
  now, for at most :data:`ATTEMPT_S`: past it no write starts, the queue stops
  waiting and leaves the lease to lapse :data:`ABANDONED_HOLD_S` later, when
  any request of the attempt has ended;
- a transient GitHub failure (5xx, a lost connection, a rate limit, the
  deadline) is tried again later, at most :data:`ATTEMPTS` times, after a
  doubling backoff or the wait GitHub asked for; a failure for model reasons
  (its files gone) keeps the delivery queued and tried again after the model
  is usable, however often; anything else is "failed" with its error.

While queued, a delivery's outcome says why it waits. Every :data:`SWEEP_S`
each replica takes up the deliveries left queued (by a replica that stopped,
or while the store could not be reached). Stopping, a replica leaves its
deliveries queued for another.

Deliveries GitHub failed to send are never redelivered by it: with a repository
(``--repo``) and ``catch_up_s``, one replica at a time (the lease of item 0) lists
the items updated since the last such sweep (``bot/sweep.py``) every
``catch_up_s`` seconds and queues each as a delivery ``sweep-NUMBER-UPDATED``, so
an item is swept once however many replicas run, under the same leases and rules.
"""
import asyncio
import contextlib
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set

import requests

from .. import flows
from ..bot import reconcile
from .. import timeutil
from ..bot.rules import BotMode
from ..bot.sweep import updated_since
from ..bot.state import LEASE_S, BotState
from ..errors import first_cause
from ..github.client import GitHubError
from ..model.artifacts import ArtifactError
from ..store import StoreError

LOGGER = logging.getLogger(__name__)

ATTEMPTS = 4  # tries of a delivery GitHub fails transiently
BACKOFF_S = 1.0  # the first wait before trying again; doubled after each failed attempt
MODEL_RETRY_MAX_S = 60.0  # the longest wait before trying a delivery that failed for model reasons again
WORKERS = 4
RENEW_S = LEASE_S / 3  # a working holder renews its lease this often
ATTEMPT_S = 60.0  # one attempt's deadline: then it starts no write and the queue tries again later
ABANDONED_HOLD_S = 150.0  # a given-up attempt keeps the item this long (> reconcile.request_worst_s())
BUSY_S = 1.0  # a delivery whose item another holder has is tried again this much later
SWEEP_S = LEASE_S  # how often a replica takes up the deliveries left queued
CATCH_UP_OVERLAP_S = 5.0  # each sweep starts this much before the last one started (clocks, GitHub's own lag)
DEFAULT_MODE = BotMode()
MODEL_NOT_LOADED = "model not loaded; the server's log says why"  # clients never see the server's paths


class Abandoned(Exception):
    """An attempt passed its deadline."""


class DeliveryQueue:
    """Background workers labelling the deliveries recorded in ``state``.

    ``model_dir``: waits for a usable model and returns a local directory of its files.
    """

    def __init__(self, state: BotState, base_url: str, model_dir: Callable[[], Awaitable[str]],
                 backoff_s: float = BACKOFF_S, bot: BotMode = DEFAULT_MODE, repo: str = "", catch_up_s: float = 0):
        self.state, self.base_url, self.model_dir, self.backoff_s, self.bot = state, base_url, model_dir, backoff_s, bot
        self.repo, self.catch_up_s = repo, catch_up_s
        self.pending: asyncio.Queue = asyncio.Queue()
        self.known: Set[str] = set()  # deliveries this replica has pending, in hand or scheduled
        self.done: Dict[str, Dict[str, str]] = {}  # per delivery in hand: what its earlier attempts wrote
        self.tasks: List[asyncio.Task] = []

    async def start(self) -> None:
        self.tasks = [asyncio.ensure_future(self._work()) for _ in range(WORKERS)]
        self.tasks.append(asyncio.ensure_future(self._sweep()))
        if self.repo and self.catch_up_s > 0:
            self.tasks.append(asyncio.ensure_future(self._catch_up_every()))

    async def stop(self) -> None:
        """Stop at once: deliveries in hand stay queued and their items' leases are released (a thread still in
        a GitHub request ends with the process; the next reconcile reads GitHub first)."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.state.close()

    def own_login(self) -> Optional[str]:
        """The bot's login once a reconcile has asked GitHub for it (no request here), else None."""
        return reconcile.known_login(self.base_url)

    async def submit(self, delivery: str, item: Dict[str, Any], updated_at: Optional[str]) -> bool:
        """Queue a delivery; False when it was received before (by any replica); QueueFull when it cannot be."""
        if not await self.state.receive(delivery, item["repo"], item["number"], updated_at):
            return False
        self._put(delivery)
        return True

    def _put(self, delivery: str) -> None:
        self.known.add(delivery)
        self.pending.put_nowait(delivery)

    def _later(self, delay: float, delivery: str) -> None:
        asyncio.get_running_loop().call_later(delay, self.pending.put_nowait, delivery)

    async def _sweep(self) -> None:
        while True:
            try:
                for delivery in await self.state.queued():
                    if delivery not in self.known:
                        self._put(delivery)
            except StoreError as error:
                LOGGER.error("cannot look for queued deliveries: %s", error)
            await asyncio.sleep(SWEEP_S)

    async def _catch_up_every(self) -> None:
        while True:
            await asyncio.sleep(self.catch_up_s)
            try:
                await self.catch_up()
            except (StoreError, GitHubError) as error:
                LOGGER.error("cannot sweep %s for lost deliveries: %s", self.repo, error)

    async def catch_up(self) -> int:
        """Queue the repository's items updated since the last sweep (else since ``catch_up_s`` ago) that no
        delivery brought; how many were queued (0 while another replica sweeps)."""
        holder = await self.state.take(self.repo, 0, time.time() + ABANDONED_HOLD_S)
        if holder is None:
            return 0
        try:
            started = time.time()
            since = await self.state.swept(self.repo) or started - self.catch_up_s
            items = await asyncio.to_thread(updated_since, self.base_url, self.repo,
                                            timeutil.from_epoch(since - CATCH_UP_OVERLAP_S))
            queued = 0
            for number, updated_at in items:
                delivery = f"sweep-{number}-{''.join(c for c in updated_at if c.isdigit())}"
                queued += await self.submit(delivery, {"repo": self.repo, "number": number}, updated_at)
            await self.state.set_swept(self.repo, started)
            return queued
        finally:
            with contextlib.suppress(StoreError):
                await self.state.release(self.repo, 0, holder)

    async def _work(self) -> None:
        while True:
            delivery = await self.pending.get()
            try:
                again = await self.handle(delivery, await self.model_dir())
            except StoreError as error:  # left queued: a sweep takes it up again
                LOGGER.error("delivery %s: %s", delivery, error)
                again = None
            except Exception:  # recorded, never the end of the worker
                LOGGER.exception("delivery %s failed", delivery)
                with contextlib.suppress(StoreError):
                    await self.state.finish(delivery, "failed", {"error": "internal error (see the server's log)"})
                again = None
            if again is None:
                self.known.discard(delivery)
                self.done.pop(delivery, None)
            else:
                self._later(again, delivery)

    async def handle(self, delivery: str, model_dir: str) -> Optional[float]:
        """Label a delivery with the model in ``model_dir``: None once it is finished (or not this replica's
        to do), else the seconds after which to try it again."""
        job = await self.state.delivery(delivery)
        if job is None or job["state"] != "queued":
            return None
        key = job["repo"], job["number"]
        holder = await self.state.take(*key, time.time() + LEASE_S)
        if holder is None:
            return BUSY_S
        release = True
        try:
            job = await self.state.delivery(delivery)
            if job is None or job["state"] != "queued":  # another replica took it up meanwhile
                return None
            applied = await self.state.older_than_applied(*key, job["updated_at"])
            if applied:
                ignored = f"updated_at {job['updated_at']} is older than {applied}, already applied"
                await self.state.finish(delivery, "ignored", {"ignored": ignored})
                return None
            try:
                outcome = await self._attempt(delivery, key, holder, model_dir)
            except Abandoned:
                release = False  # its thread may still be in a request: the lease lapses after that
                return await self._failed(job, GitHubError(f"no answer within {ATTEMPT_S:g} s", transient=True))
            except Exception as error:
                cause = first_cause(error, (GitHubError, ArtifactError))
                if cause is None:
                    raise
                return await self._failed(job, cause)
            await self.state.applied(*key, job["updated_at"])
            await self.state.decided(outcome)
            await self.state.finish(delivery, "done", outcome)
            return None
        finally:
            if release:
                with contextlib.suppress(StoreError):  # else it lapses
                    await self.state.release(*key, holder)

    async def _attempt(self, delivery: str, key: tuple, holder: str, model_dir: str) -> Dict[str, Any]:
        """One run of the label dataflow, the lease renewed until it ends; Abandoned past ATTEMPT_S."""
        deadline = time.monotonic() + ATTEMPT_S
        attempt = reconcile.Attempt(deadline, self.done.setdefault(delivery, {}))
        token = reconcile.ATTEMPT.set(attempt)  # the run's tasks and threads start with it
        try:
            run = asyncio.ensure_future(flows.run_label(flows.item_inputs(*key, self.base_url, model_dir, self.bot.mode,
                                                                          self.bot.apply_sigs)))
        finally:
            reconcile.ATTEMPT.reset(token)
        try:
            while not run.done():
                left = deadline - time.monotonic()
                if left <= 0:
                    await self._renew(key, holder, ABANDONED_HOLD_S)
                    raise Abandoned()
                await asyncio.wait({run}, timeout=min(RENEW_S, left))
                if not run.done():
                    await self._renew(key, holder, LEASE_S)
            return run.result()
        finally:
            run.cancel()

    async def _renew(self, key: tuple, holder: str, hold_s: float) -> None:
        try:
            if not await self.state.renew(*key, holder, time.time() + hold_s):
                LOGGER.warning("%s#%d: the lease lapsed while working", *key)
        except StoreError as error:  # the attempt goes on; its writes read GitHub first
            LOGGER.error("%s#%d: cannot renew the lease: %s", *key, error)

    async def _failed(self, job: Dict[str, Any], cause: Exception) -> Optional[float]:
        """Record a failed attempt: the delay before the next one, or None when the delivery failed for good."""
        where = f"{job['repo']}#{job['number']}"
        before = job["outcome"] or {}
        tried, waited = before.get("attempts", 0), before.get("model_waits", 0)
        if isinstance(cause, ArtifactError):  # the model's files: kept queued until the model is usable again
            delay = min(self.backoff_s * 2 ** waited, MODEL_RETRY_MAX_S)
            LOGGER.error("%s: %s; trying again in %g s", where, cause, delay)
            await self.state.finish(job["id"], "queued", {"retrying": MODEL_NOT_LOADED, "attempts": tried,
                                                          "model_waits": waited + 1})
            return delay
        if not cause.transient or tried + 1 >= ATTEMPTS:
            LOGGER.error("%s: %s", where, cause)
            await self.state.finish(job["id"], "failed", {"error": str(cause)})
            return None
        delay = max(self.backoff_s * 2 ** tried, getattr(cause, "wait", 0))
        LOGGER.warning("%s: %s; trying again in %g s", where, cause, delay)
        await self.state.finish(job["id"], "queued", {"retrying": str(cause), "attempts": tried + 1,
                                                      "model_waits": waited})
        return delay


def settled(url: str, delivery: str, timeout: float = 60) -> Dict[str, Any]:
    """What became of a delivery (``GET /webhook/deliveries/{id}`` of the service at ``url``) once not queued."""
    deadline = time.monotonic() + timeout
    while True:
        found = requests.get(f"{url}/webhook/deliveries/{delivery}", timeout=10).json()
        if found.get("state") != "queued":
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"delivery {delivery} still queued after {timeout:g} s")
        time.sleep(0.02)

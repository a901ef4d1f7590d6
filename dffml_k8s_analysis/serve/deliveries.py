"""The webhook's work queue: deliveries are answered at once and labelled in the background.

The webhook records a new delivery in the shared :class:`~dffml_k8s_analysis.bot.state.BotState`
and answers 202; workers take it from here and, holding the item's lease (one
reconcile per item across replicas), skip it when its ``updated_at`` is older
than what was applied, else run the label dataflow on the item as GitHub has
it now. A GitHub failure is tried again :data:`ATTEMPTS` times with backoff;
the delivery's state (done, ignored, failed) and outcome or error stay in the
shared store. Deliveries left queued (by a replica that stopped, or while the
store could not be reached) are taken up at start.
"""
import asyncio
import contextlib
import logging
import time
from typing import Any, Callable, Dict, List, Optional

import requests

from .. import flows
from ..bot.state import BotState
from ..errors import first_cause
from ..github.client import GitHubError
from ..model.artifacts import ArtifactError
from ..store import StoreError

LOGGER = logging.getLogger(__name__)

ATTEMPTS = 4
BACKOFF_S = 1.0  # doubled after each failed attempt
WORKERS = 4
MODEL_NOT_LOADED = "model not loaded; the server's log says why"  # clients never see the server's paths


class DeliveryQueue:
    """Background workers labelling the deliveries recorded in ``state``."""

    def __init__(self, state: BotState, base_url: str, model_dir: Callable[[], str], backoff_s: float = BACKOFF_S):
        self.state, self.base_url, self.model_dir, self.backoff_s = state, base_url, model_dir, backoff_s
        self.pending: asyncio.Queue = asyncio.Queue()
        self.workers: List[asyncio.Task] = []

    async def start(self) -> None:
        for delivery in await self.state.queued():
            self.pending.put_nowait(delivery)
        self.workers = [asyncio.ensure_future(self._work()) for _ in range(WORKERS)]

    async def stop(self) -> None:
        for worker in self.workers:
            worker.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        await self.state.close()

    async def submit(self, delivery: str, item: Dict[str, Any], updated_at: Optional[str]) -> bool:
        """Queue a delivery; False when it was received before (by any replica)."""
        if not await self.state.receive(delivery, item["repo"], item["number"], updated_at):
            return False
        self.pending.put_nowait(delivery)
        return True

    async def _work(self) -> None:
        while True:
            delivery = await self.pending.get()
            try:
                await self.handle(delivery)
            except StoreError as error:  # left queued: taken up again at a replica's next start
                LOGGER.error("delivery %s: %s", delivery, error)
            except Exception:  # recorded, never the end of the worker
                LOGGER.exception("delivery %s failed", delivery)
                with contextlib.suppress(StoreError):
                    await self.state.finish(delivery, "failed", {"error": "internal error (see the server's log)"})

    async def handle(self, delivery: str) -> None:
        job = await self.state.delivery(delivery)
        if job is None:
            return
        async with self.state.lease(job["repo"], job["number"]):
            if (await self.state.delivery(delivery))["state"] != "queued":  # another replica took it up meanwhile
                return
            applied = await self.state.older_than_applied(job["repo"], job["number"], job["updated_at"])
            if applied:
                ignored = f"updated_at {job['updated_at']} is older than {applied}, already applied"
                await self.state.finish(delivery, "ignored", {"ignored": ignored})
                return
            state, outcome = await self._label(job)
            if state == "done":
                await self.state.applied(job["repo"], job["number"], job["updated_at"])
            await self.state.finish(delivery, state, outcome)

    async def _label(self, job: Dict[str, Any]) -> tuple:
        """("done", outcome) or ("failed", {"error": ...}) after at most ATTEMPTS tries."""
        inputs = flows.item_inputs(job["repo"], job["number"], self.base_url, self.model_dir())
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return "done", await flows.run_label(inputs)
            except Exception as error:
                cause = first_cause(error, (GitHubError, ArtifactError))
                if cause is None:
                    raise
                if not (isinstance(cause, GitHubError) and cause.transient) or attempt == ATTEMPTS:
                    LOGGER.error("%s#%d: %s", job["repo"], job["number"], cause)
                    return "failed", {"error": str(cause) if isinstance(cause, GitHubError) else MODEL_NOT_LOADED}
                delay = self.backoff_s * 2 ** (attempt - 1)
                LOGGER.warning("%s; trying %s#%d again in %g s", cause, job["repo"], job["number"], delay)
                await asyncio.sleep(delay)


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

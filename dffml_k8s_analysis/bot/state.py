"""The bot's memory, shared by every serving replica: deliveries, what was applied, leases.

It lives in a store (``store/bot_state.py``): by default the one ``--models``
names when that is a store, so on a cluster every replica, on any node, shares
it through PostgreSQL; else the SQLite file :data:`DEFAULT_PATH`.

- a delivery seen before is answered without any work, by whichever replica gets it;
  at most :data:`MAX_QUEUED` wait at once (a new one is refused, never one queued
  pruned); of the finished ones the newest :data:`KEEP` are remembered;
- per item, the payload ``updated_at`` of the newest delivery applied, so an
  older one (a replay) is ignored;
- per item, which reconcile holds it until when, so replicas take an item one
  at a time. A lease is short (:data:`LEASE_S`) and renewed while its holder
  works, so the items of a replica that died are free again within LEASE_S.
"""
import asyncio
import concurrent.futures
import contextlib
import json
import time
import uuid
from typing import Any, Dict, List, Optional

from ..errors import UserError
from ..store import Store, StoreError, named, open_store
from ..store.bot_state import BotMemory

DEFAULT_PATH = "out/bot/state.sqlite"
KEEP = 10_000  # finished deliveries remembered
MAX_QUEUED = 10_000  # past this, a new delivery is refused (503) before it is answered 202
LEASE_S = 15.0  # a lease outlives its holder's last renewal by this much (a dead replica's items wait this long)


class QueueFull(Exception):
    """The queue holds :data:`MAX_QUEUED` deliveries already: nothing was recorded."""


def state_spec(state: str, models: str) -> str:
    """The store of the bot's memory: ``state`` if given, else the models' store if they are in one."""
    from ..model.registry import is_store

    return state or (models if is_store(models) else DEFAULT_PATH)


def decision_row(outcome: Dict[str, Any]) -> Optional[tuple]:
    """The ``record_decision`` arguments of a reconcile's decision on the model's label (any mode; shadow's is
    what it would have done); None where it deferred to a person or there was no note."""
    if not outcome.get("note") or not outcome.get("decision") or outcome.get("deferred"):
        return None
    return (outcome["repo"].lower(), outcome["number"], time.time(), outcome["mode"], outcome["model_label"],
            outcome["decision"], outcome["probability"])


class BotState:
    """The bot's memory in the store ``spec``; UserError when it cannot be used.

    Its methods are coroutines: the store is used from a thread of its own, so
    a slow database never holds the server's event loop. One connection, opened
    by that thread at first use and opened again after a failure (a restart).
    """

    def __init__(self, spec: str):
        self.db: Optional[Store] = None
        try:
            self.spec = named(spec)
            self._open().close()
        except StoreError as error:
            raise UserError(f"cannot use the bot's state store: {error}") from None
        self.worker = concurrent.futures.ThreadPoolExecutor(1, "k8s-analysis-bot-state")

    def _open(self) -> Store:
        return open_store(self.spec, create=True)

    async def _call(self, method, *args):
        """``method(store.bot, *args)`` in the state's thread."""
        return await asyncio.get_running_loop().run_in_executor(self.worker, self._run, method, args)

    def _run(self, method, args: tuple):
        if self.db is None:
            self.db = self._open()
        try:
            return method(self.db.bot, *args)
        except StoreError:
            self._close()
            raise

    def _close(self) -> None:
        if self.db is not None:
            with contextlib.suppress(Exception):
                self.db.close()
            self.db = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.worker, self._close)
        self.worker.shutdown()

    async def receive(self, delivery: str, repo: str, number: int, updated_at: Optional[str]) -> bool:
        """Record a new delivery as queued; False when it was received before; QueueFull when it cannot be."""
        received = await self._call(BotMemory.receive_delivery, delivery, time.time(), repo.lower(), number, updated_at,
                                    KEEP, MAX_QUEUED)
        if received is None:
            raise QueueFull(f"{MAX_QUEUED} deliveries are queued already")
        return received

    async def delivery(self, delivery: str) -> Optional[Dict[str, Any]]:
        """What became of a delivery: its item, state and outcome (None: not among those remembered)."""
        row = await self._call(BotMemory.delivery_row, delivery)
        if row is None:
            return None
        repo, number, updated_at, state, outcome = row
        return {"id": delivery, "repo": repo, "number": number, "updated_at": updated_at, "state": state,
                "outcome": json.loads(outcome) if outcome else None}

    async def queued(self) -> List[str]:
        """Ids of the deliveries still queued (left by a replica that stopped), oldest first."""
        return await self._call(BotMemory.queued_deliveries)

    async def finish(self, delivery: str, state: str, outcome: Dict[str, Any]) -> None:
        """Record what became of a delivery (``state`` "queued": it stays queued, ``outcome`` says why)."""
        await self._call(BotMemory.finish_delivery, delivery, state, outcome)

    async def older_than_applied(self, repo: str, number: int, updated_at: Optional[str]) -> Optional[str]:
        """The ``updated_at`` already applied to the item when ``updated_at`` is older, else None."""
        applied = await self._call(BotMemory.applied_at, repo.lower(), number)
        return applied if applied and updated_at and updated_at < applied else None

    async def applied(self, repo: str, number: int, updated_at: Optional[str]) -> None:
        """Remember that the item was reconciled for a delivery of ``updated_at`` (the newest wins)."""
        if updated_at:
            await self._call(BotMemory.set_applied, repo.lower(), number, updated_at)

    async def decided(self, outcome: Dict[str, Any]) -> None:
        """Remember a reconcile's decision (see :func:`decision_row`)."""
        row = decision_row(outcome)
        if row is not None:
            await self._call(BotMemory.record_decision, *row)

    async def own_write(self, repo: str) -> None:
        """Count a delivery skipped as caused by the bot's own label write."""
        await self._call(BotMemory.count_own_write, repo.lower())

    async def swept(self, repo: str) -> Optional[float]:
        """When the last periodic sweep of ``repo`` started, or None."""
        return await self._call(BotMemory.swept, repo.lower())

    async def set_swept(self, repo: str, when: float) -> None:
        await self._call(BotMemory.set_swept, repo.lower(), when)

    async def take(self, repo: str, number: int, until: float) -> Optional[str]:
        """Hold the item until ``until`` (epoch seconds): the holder's id, or None while another holder has it."""
        holder = uuid.uuid4().hex
        return holder if await self._call(BotMemory.take_lease, repo.lower(), number, holder, time.time(), until) else None

    async def renew(self, repo: str, number: int, holder: str, until: float) -> bool:
        """Hold the item until ``until`` if ``holder`` still does; whether it does."""
        return await self._call(BotMemory.renew_lease, repo.lower(), number, holder, until)

    async def release(self, repo: str, number: int, holder: str) -> None:
        await self._call(BotMemory.release_lease, repo.lower(), number, holder)

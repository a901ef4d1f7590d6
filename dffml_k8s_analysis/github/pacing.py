"""Pacing requests under GitHub's secondary rate limits, one pacer per token and process.

GitHub's secondary limits (docs.github.com, "Rate limits for the REST API"): at most 100
concurrent requests; 900 points per minute for REST (a GET costs 1, a write 5) and 2,000 for
GraphQL (a query 1, a mutation 5); at most 90 s of CPU time per 60 s of real time, of which
at most 60 s for GraphQL, which GitHub tells clients to estimate by the total response time of
their requests. Past any of them it answers 403 or 429, with ``Retry-After`` only sometimes.

A :class:`Pacer` keeps a process under all of them *before* sending: a concurrency cap, an
evenly spaced point rate per resource, and the response time of the last window (in flight
requests count at least the running estimate). After a secondary-limit answer no request
leaves until ``Retry-After`` has passed, or, without it, one window, doubling on each
consecutive answer. Every budget is per window (60 s on GitHub; shorter in tests) and is
divided by ``share``, the number of processes on the same token (an Indexed Job's pods).
"""
import collections
import contextlib
import dataclasses
import hashlib
import logging
import os
import threading
import time
from typing import Callable, Dict, Optional, Tuple

LOGGER = logging.getLogger(__name__)

ENV_PREFIX = "GITHUB_PACE_"
MAX_BACKOFF_WINDOWS = 16


@dataclasses.dataclass(frozen=True)
class Limits:
    """Budgets per ``window_s`` for one token, before dividing by ``share``."""

    window_s: float = 60.0
    rest_points: float = 800.0  # GitHub: 900
    graphql_points: float = 1800.0  # GitHub: 2,000
    response_s: float = 85.0  # GitHub: 90 s of CPU time
    graphql_response_s: float = 50.0  # GitHub: 60 s of the 90
    concurrency: int = 25  # GitHub: 100; the rest is left to other tools on the token
    share: int = 1

    @classmethod
    def from_env(cls, environ=None) -> "Limits":
        """Limits with ``GITHUB_PACE_WINDOW_S``, ``_REST_POINTS``, ..., ``_SHARE`` applied."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            name = ENV_PREFIX + field.name.upper()
            if environ.get(name, "") != "":
                try:
                    values[field.name] = field.type(environ[name]) if field.type is int else float(environ[name])
                except ValueError:
                    raise ValueError(f"{name} must be a number, got {environ[name]!r}") from None
        limits = cls(**values)
        for name, value in dataclasses.asdict(limits).items():
            if value <= 0:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be positive, got {value}")
        return limits

    def points(self, resource: str) -> float:
        return (self.graphql_points if resource == "graphql" else self.rest_points) / self.share

    def response(self, resource: str) -> float:
        budget = self.graphql_response_s if resource == "graphql" else self.response_s
        return min(budget, self.response_s) / self.share

    @property
    def max_in_flight(self) -> int:
        return max(1, self.concurrency // self.share)


class _Entry:
    """One request in the response-time ledger."""

    __slots__ = ("start", "seconds", "done", "resource")

    def __init__(self, start: float, resource: str):
        self.start, self.seconds, self.done, self.resource = start, 0.0, False, resource


class Pacer:
    """Admits requests of every thread of a process under the secondary limits."""

    def __init__(self, limits: Optional[Limits] = None, clock: Callable[[], float] = time.monotonic):
        self.limits = limits or Limits()
        self.clock = clock
        self.cond = threading.Condition()
        self.in_flight = 0
        self.next_start: Dict[str, float] = collections.defaultdict(float)
        self.ledger = collections.deque()
        self.estimate = 0.5  # seconds a request is expected to take; learnt as they finish
        self.blocked_until = 0.0
        self.strikes = 0

    @contextlib.contextmanager
    def request(self, resource: str = "core", cost: float = 1.0):
        """Wait for admission of one request; time it while the block runs."""
        entry = self._admit(resource, cost)
        try:
            yield entry
        finally:
            with self.cond:
                entry.seconds, entry.done = self.clock() - entry.start, True
                self.estimate = 0.8 * self.estimate + 0.2 * entry.seconds
                self.in_flight -= 1
                self.cond.notify_all()

    def _admit(self, resource: str, cost: float) -> _Entry:
        logged = False
        with self.cond:
            while True:
                now = self.clock()
                delay, reason = self._delay(now, resource)
                if delay <= 0:
                    break
                if not logged and delay >= 1:
                    LOGGER.debug("pacing %s: waiting %.1f s (%s)", resource, delay, reason)
                    logged = True
                self.cond.wait(delay)
            interval = self.limits.window_s * cost / self.limits.points(resource)
            self.next_start[resource] = max(now, self.next_start[resource]) + interval
            self.in_flight += 1
            entry = _Entry(now, resource)
            self.ledger.append(entry)
            return entry

    def _delay(self, now: float, resource: str) -> Tuple[float, str]:
        """Seconds to wait before a request may leave (0: now), and why."""
        if now < self.blocked_until:
            return self.blocked_until - now, "secondary rate limit"
        if self.in_flight >= self.limits.max_in_flight:
            return self.limits.window_s, f"{self.in_flight} requests in flight"
        if now < self.next_start[resource]:
            return self.next_start[resource] - now, f"{self.limits.points(resource):.0f} points per window"
        horizon = now - self.limits.window_s
        while self.ledger and self.ledger[0].done and self.ledger[0].start <= horizon:
            self.ledger.popleft()
        for budget_resource in {"core", resource}:
            wait = self._response_delay(now, horizon, budget_resource)
            if wait > 0:
                return wait, f"{self.limits.response(budget_resource):.0f} s of response time per window"
        return 0.0, ""

    def _response_delay(self, now: float, horizon: float, resource: str) -> float:
        """Until enough of the window's response time has expired for one more request."""
        budget = self.limits.response(resource)
        entries = [e for e in self.ledger if e.start > horizon and (resource == "core" or e.resource == resource)]
        used = sum(e.seconds if e.done else max(self.estimate, now - e.start) for e in entries)
        if used + self.estimate <= budget or not entries:
            return 0.0
        excess = used + self.estimate - budget
        for entry in entries:  # oldest first: wait until enough of them leave the window
            excess -= entry.seconds if entry.done else max(self.estimate, now - entry.start)
            if excess <= 0:
                return max(entry.start - horizon, 0.01)
        return self.limits.window_s

    def secondary_limit(self, status: int, retry_after: Optional[str], what: str) -> float:
        """Stop every request after a secondary-limit answer; return the wait in seconds."""
        with self.cond:
            try:
                wait = max(float(retry_after), 1.0)
                reason = f"Retry-After {retry_after}"
            except (TypeError, ValueError):
                wait = self.limits.window_s * min(2 ** self.strikes, MAX_BACKOFF_WINDOWS)
                reason = "no Retry-After"
            self.strikes += 1
            now = self.clock()
            if now + wait > self.blocked_until:
                if now >= self.blocked_until:
                    LOGGER.warning("secondary rate limit (%s to %s, %s): no request for %.0f s",
                                   status, what, reason, wait)
                self.blocked_until = now + wait
            self.cond.notify_all()
            return wait

    def succeeded(self) -> None:
        """A request was answered normally: the backoff starts over."""
        with self.cond:
            self.strikes = 0


_PACERS: Dict[str, Pacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(base_url: str, token: Optional[str]) -> Pacer:
    """The process's pacer for one token at one API root (the token itself is not kept)."""
    key = hashlib.sha256(f"{base_url.rstrip('/')}\0{token or ''}".encode()).hexdigest()
    with _PACERS_LOCK:
        if key not in _PACERS:
            _PACERS[key] = Pacer(Limits.from_env())
        return _PACERS[key]

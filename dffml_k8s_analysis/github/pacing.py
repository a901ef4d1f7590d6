"""Pacing requests under GitHub's secondary rate limits, one pacer per token and process.

GitHub's secondary limits (docs.github.com, "Rate limits for the REST API"): at most 100
concurrent requests; 900 points per minute for REST (a GET costs 1, a write 5) and 2,000 for
GraphQL (a query 1, a mutation 5); at most 90 s of CPU time per 60 s of real time, of which
at most 60 s for GraphQL, which GitHub tells clients to estimate by the total response time of
their requests. Past any of them it answers 403 or 429, with ``Retry-After`` only sometimes.

GitHub does not document over which windows it counts them, so a :class:`Pacer` spends every budget
evenly, never a window's worth early: a concurrency cap, and for points and response time alike a
rate (the budget per window) with no burst beyond one request, as GCRA spaces a token bucket's, with
GCRA's tolerance of ``LATE`` of a window: a waiting thread woken a little late (a busy machine)
keeps its place instead of losing the time it overslept, which otherwise adds up to several per cent
of an export's time. Points are charged when a request leaves; response time as the running estimate
then, corrected by what the request took as soon as its headers arrive (:func:`answered`; else when
it ends), not after its body is read; a request running past the estimate is charged as it runs.
Counted over any window of 10 s to 60 s, a process then stays within the budget's share of that
window plus about one request and the tolerance's 0.1 s of the rate. After a secondary-limit answer
no request leaves until ``Retry-After`` has passed, or, without it, one window, doubling on each
consecutive answer. Every budget is per window (60 s on GitHub; shorter in tests) and is divided by
``share``, the number of processes on the same token (an Indexed Job's pods).
"""
import collections
import contextlib
import contextvars
import dataclasses
import hashlib
import logging
import os
import threading
import time
from typing import Callable, Dict, Optional, Set, Tuple

from urllib3.exceptions import InvalidHeader
from urllib3.util import Retry

LOGGER = logging.getLogger(__name__)

ENV_PREFIX = "GITHUB_PACE_"
MAX_BACKOFF_WINDOWS = 16
LATE = 1 / 600  # of a window (0.1 s of GitHub's minute): a request may leave this early on its budgets' schedule


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
    """One request in flight: when it left, what it was charged; ``seconds``, once known (:func:`answered`), how
    long the server took (else the time the block ran)."""

    __slots__ = ("start", "charged", "resource", "seconds")

    def __init__(self, start: float, charged: float, resource: str):
        self.start, self.charged, self.resource, self.seconds = start, charged, resource, None


_IN_FLIGHT: contextvars.ContextVar = contextvars.ContextVar("paced_request", default=None)


def answered(seconds: float) -> None:
    """The request this thread has in flight got its headers after ``seconds``: its response time is charged now,
    while its body is read (the server's time is spent; waiting for the body would hold others back)."""
    current = _IN_FLIGHT.get()
    if current is not None:
        pacer, entry = current
        with pacer.cond:
            pacer._settle(entry, seconds)


class Pacer:
    """Admits requests of every thread of a process under the secondary limits."""

    def __init__(self, limits: Optional[Limits] = None, clock: Callable[[], float] = time.monotonic):
        self.limits = limits or Limits()
        self.clock = clock
        self.cond = threading.Condition()
        # budget -> the moment it has paid for everything charged so far (GCRA's theoretical arrival time);
        # budgets: ("points", resource), ("response", "core") for every request, ("response", "graphql") too
        self.paid_until: Dict[Tuple[str, str], float] = collections.defaultdict(float)
        self.flying: Set[_Entry] = set()
        self.estimate = 0.5  # seconds a request is expected to take; learnt as they finish
        self.blocked_until = 0.0
        self.strikes = 0

    @contextlib.contextmanager
    def request(self, resource: str = "core", cost: float = 1.0):
        """Wait for admission of one request; time it while the block runs (or as the block sets ``seconds``)."""
        entry = self._admit(resource, cost)
        token = _IN_FLIGHT.set((self, entry))
        try:
            yield entry
        finally:
            _IN_FLIGHT.reset(token)
            with self.cond:
                self._settle(entry, self.clock() - entry.start)
                self.flying.discard(entry)
                self.cond.notify_all()

    def _settle(self, entry: _Entry, seconds: float) -> None:
        """The estimate ``entry`` was charged becomes what it took (once; ``self.cond`` held)."""
        if entry.seconds is not None:
            return
        entry.seconds = seconds
        self.estimate = 0.8 * self.estimate + 0.2 * seconds
        for budget in self._response_budgets(entry.resource):
            self.paid_until[budget] += (seconds - entry.charged) / self._rate(budget)
        self.cond.notify_all()

    def _rate(self, budget: Tuple[str, str]) -> float:
        """Units of ``budget`` per second: points, or seconds of response time."""
        kind, resource = budget
        per_window = self.limits.points(resource) if kind == "points" else self.limits.response(resource)
        return per_window / self.limits.window_s

    @staticmethod
    def _response_budgets(resource: str):
        return [("response", "core")] + ([("response", resource)] if resource != "core" else [])

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
            self._charge_overruns(now)
            entry = _Entry(now, self.estimate, resource)
            charges = [(("points", resource), cost)] + [(b, entry.charged) for b in self._response_budgets(resource)]
            for budget, amount in charges:
                self.paid_until[budget] = max(now, self.paid_until[budget]) + amount / self._rate(budget)
            self.flying.add(entry)
            return entry

    def _charge_overruns(self, now: float) -> None:
        """What the requests running past their charge have run so far becomes part of their charge, as it held
        this admission back (left as a running charge, it would be counted again when they end)."""
        for entry in self.flying:
            overrun = now - entry.start - entry.charged
            if entry.seconds is None and overrun > 0:
                entry.charged += overrun
                for budget in self._response_budgets(entry.resource):
                    self.paid_until[budget] += overrun / self._rate(budget)

    def _delay(self, now: float, resource: str) -> Tuple[float, str]:
        """Seconds to wait before a request may leave (0: now), and why."""
        if now < self.blocked_until:
            return self.blocked_until - now, "secondary rate limit"
        if len(self.flying) >= self.limits.max_in_flight:
            return self.limits.window_s, f"{len(self.flying)} requests in flight"
        points, late = ("points", resource), LATE * self.limits.window_s
        if now < self.paid_until[points] - late:
            return self.paid_until[points] - late - now, f"{self.limits.points(resource):.0f} points per window"
        for budget in self._response_budgets(resource):
            # requests running past what they were charged are charged as they run
            running = sum(max(0.0, now - e.start - e.charged) for e in self.flying
                          if e.seconds is None and (budget[1] == "core" or e.resource == budget[1]))
            wait = self.paid_until[budget] - late + running / self._rate(budget) - now
            if wait > 0:
                return wait, f"{self.limits.response(budget[1]):.0f} s of response time per window"
        return 0.0, ""

    def secondary_limit(self, status: int, retry_after: Optional[float], what: str) -> float:
        """Stop every request after a secondary-limit answer; return the wait in seconds.

        ``retry_after``: the seconds its ``Retry-After`` asked for (:func:`retry_after_s`), None without one."""
        with self.cond:
            if retry_after is not None:
                wait = max(retry_after, 1.0)
                reason = f"Retry-After {retry_after:.0f}"
            else:
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


def retry_after_s(value: Optional[str]) -> Optional[float]:
    """Seconds a ``Retry-After`` header asks for (whole seconds or an HTTP date, as urllib3 reads it); None when
    there is none or it is neither (``inf``, ``nan``, ``1e9``, ``-5``: waited like no ``Retry-After``)."""
    if value is None:
        return None
    try:
        return float(Retry().parse_retry_after(value))
    except InvalidHeader:
        return None


_PACERS: Dict[str, Pacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(base_url: str, token: Optional[str]) -> Pacer:
    """The process's pacer for one token at one API root (the token itself is not kept)."""
    key = hashlib.sha256(f"{base_url.rstrip('/')}\0{token or ''}".encode()).hexdigest()
    with _PACERS_LOCK:
        if key not in _PACERS:
            _PACERS[key] = Pacer(Limits.from_env())
        return _PACERS[key]

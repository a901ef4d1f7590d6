"""GitHub's secondary rate limits, as the emulator enforces them per token.

In a rolling window (60 s on GitHub): at most ``points`` points for REST (a GET
costs 1, a write 5) and ``graphql_points`` for GraphQL (a query 1, a mutation
5); at most ``cpu_s`` seconds of response time (``graphql_cpu_s`` of them for
GraphQL), charged when a request arrives; at most ``concurrency`` requests in
flight. Past the points or concurrency limit the answer is 403 with
``Retry-After``; past the response-time limit it is 429 without, and the
token stays limited for one window. Requests arriving while limited are
refused the same way and counted as ``sent_while_limited``.
"""
import collections
import dataclasses
import hashlib
import math
import time
from typing import Callable, Dict, Optional

MESSAGE = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."


@dataclasses.dataclass
class Refusal:
    status: int
    retry_after: Optional[int]
    reason: str


class _Token:
    """One token's recent requests."""

    def __init__(self):
        self.points = {"core": collections.deque(), "graphql": collections.deque()}  # (arrival, cost)
        self.cpu = collections.deque()  # [arrival, seconds, resource]
        self.in_flight = 0
        self.limited_until = 0.0
        self.refusal: Optional[Refusal] = None


class SecondaryLimits:
    """Admission of requests under the secondary limits; counts what it refused."""

    def __init__(self, window_s: float = 60.0, points: int = 900, graphql_points: int = 2000,
                 cpu_s: float = 90.0, graphql_cpu_s: float = 60.0, concurrency: int = 100,
                 clock: Callable[[], float] = time.monotonic):
        self.window_s, self.clock = window_s, clock
        self.budget = {"core": points, "graphql": graphql_points}
        self.cpu_budget = {"core": cpu_s, "graphql": graphql_cpu_s}
        self.concurrency = concurrency
        self.tokens: Dict[str, _Token] = collections.defaultdict(_Token)
        self.reset_stats()

    def admit(self, authorization: str, resource: str, cost: int, seconds: float):
        """(ticket, None) for an admitted request, or (None, Refusal)."""
        token = self.tokens[hashlib.sha256(authorization.encode()).hexdigest()]
        now = self.clock()
        if now < token.limited_until:
            self.stats["sent_while_limited"] += 1
            retry = token.refusal.retry_after and max(1, math.ceil(token.limited_until - now))
            return None, self._refused(Refusal(token.refusal.status, retry, token.refusal.reason))
        horizon = now - self.window_s
        for queue in token.points.values():
            while queue and queue[0][0] <= horizon:
                queue.popleft()
        while token.cpu and token.cpu[0][0] <= horizon:
            token.cpu.popleft()
        refusal = self._check(token, now, resource, cost, seconds)
        if refusal is not None:
            token.refusal = refusal
            token.limited_until = now + (refusal.retry_after or self.window_s)
            return None, self._refused(refusal)
        token.points[resource].append((now, cost))
        entry = [now, seconds, resource]
        token.cpu.append(entry)
        token.in_flight += 1
        return (token, entry), None

    def _check(self, token: _Token, now: float, resource: str, cost: int, seconds: float) -> Optional[Refusal]:
        if token.in_flight >= self.concurrency:
            return Refusal(403, 1, "concurrency")
        queue = token.points[resource]
        if sum(c for _, c in queue) + cost > self.budget[resource]:
            return Refusal(403, max(1, math.ceil(queue[0][0] + self.window_s - now)), "points")
        for budget_resource in {"core", resource}:
            used = sum(s for _, s, r in token.cpu if budget_resource == "core" or r == budget_resource)
            if used + seconds > self.cpu_budget[budget_resource]:
                return Refusal(429, None, "cpu")
        return None

    def _refused(self, refusal: Refusal) -> Refusal:
        self.stats["secondary_limited"] += 1
        reasons = self.stats["secondary_by_reason"]
        reasons[refusal.reason] = reasons.get(refusal.reason, 0) + 1
        return refusal

    def finish(self, ticket, seconds: float) -> None:
        """An admitted request was answered after ``seconds``: charge what it really took."""
        token, entry = ticket
        token.in_flight -= 1
        entry[1] = max(entry[1], seconds)
        self.stats["response_s"] += entry[1]

    def reset_stats(self) -> None:
        self.stats = {"secondary_limited": 0, "sent_while_limited": 0, "secondary_by_reason": {}, "response_s": 0.0}

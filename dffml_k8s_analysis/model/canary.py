"""The canary rollout: a candidate that passed the gate answers a share of predictions, then holds or not.

While a canary runs, every replica computes both models' answers to each prediction request;
a hash of the request and the canary's stamp picks which one answers (the same request always
goes the same way, and a share of 0.3 sends about 30% of distinct requests to the canary).

Only evidence no anonymous client can buy is kept. A request is one observation in the store's
``canary_observations`` (one instance of it, drawn at random: a batch weighs as much as a single
text), tagged with a hash of the client's address (:func:`client_key`); a replica records at most
:data:`MAX_PER_CLIENT` observations of one client and :data:`MAX_OBSERVATIONS` in all per canary
(:class:`Budget`), and decisions read at most ``MAX_OBSERVATIONS * REPLICAS_READ`` rows.

After its soak period the next ``pipeline`` run (or ``k8s-analysis canary decide``) decides:
the canary **holds**, and serves all traffic, when it has at least ``min_requests``
observations from at least ``min_clients`` distinct clients (or ``min_requests``, if fewer), at
most ``max_errors`` errors, its decisions agree with the serving model's on at least
``min_agreement`` (the mean of each client's own agreement, so one client weighs as much as any
other however much it sends), and its median latency is at most ``max_latency_ratio`` times the
serving model's; otherwise it is rolled back. A share of 0 promotes at once. Requiring more than
one client is the choice here, not a trusted-client list, because prediction clients are
anonymous by design; where only one client (one address) sends traffic, the operator decides
with ``canary decide --promote`` or ``--rollback``, which need no figures.
"""
import collections
import dataclasses
import datetime
import hashlib
import ipaddress
import json
import random
import statistics
import uuid
from typing import Any, Dict, List, Optional, Sequence

from .. import timeutil
from ..errors import UserError
from . import versions


@dataclasses.dataclass(frozen=True)
class Policy:
    share: float = 0.5  # of prediction requests answered by the canary
    soak_s: float = 3600.0  # seconds before a decision
    min_requests: int = 10  # observations needed to hold
    min_agreement: float = 0.9  # of observations where both decide alike
    max_errors: int = 0  # canary failures tolerated
    max_latency_ratio: float = 2.0  # canary median latency / serving median latency
    min_clients: int = 2  # distinct clients the observations must come from (at most min_requests)

    def __post_init__(self):
        for name in ("share", "min_agreement"):
            if not 0 <= getattr(self, name) <= 1:
                raise UserError(f"canary {name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("soak_s", "min_requests", "max_errors", "max_latency_ratio", "min_clients"):
            if getattr(self, name) < 0:
                raise UserError(f"canary {name} must not be negative, got {getattr(self, name)}")


def to_canary(texts: Sequence[str], label_lists: Sequence[Sequence[str]], canary: str, share: float) -> bool:
    """Whether the canary answers this request: its hash, as a fraction of 2**64, falls below ``share``."""
    key = hashlib.sha256(json.dumps([canary, list(texts), [list(labels) for labels in label_lists]]).encode())
    return int.from_bytes(key.digest()[:8], "big") < share * 2 ** 64


MAX_OBSERVATIONS = 5000  # per canary and replica
MAX_PER_CLIENT = 200  # per canary, client and replica
REPLICAS_READ = 4  # a decision reads at most MAX_OBSERVATIONS * REPLICAS_READ rows


def client_key(address: Optional[str]) -> str:
    """Who sent a request, as stored: a hash of its address (not the address); an IPv6 address by its /64, which
    one host holds whole (else each of its 2**64 addresses would be another client), an IPv4-mapped one as IPv4."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        parsed = None
    if isinstance(parsed, ipaddress.IPv6Address):
        host = parsed.ipv4_mapped or ipaddress.IPv6Network((parsed, 64), strict=False)
        address = str(host)
    return hashlib.sha256(str(address).encode()).hexdigest()[:16]


class Budget:
    """How many observations of a canary this replica recorded, in all and per client: :meth:`admit` says
    whether one more may be (and counts it)."""

    def __init__(self):
        self.canary: Optional[str] = None
        self.total = 0
        self.per_client: Dict[str, int] = collections.Counter()

    def admit(self, canary: str, client: str) -> bool:
        if canary != self.canary:
            self.canary, self.total, self.per_client = canary, 0, collections.Counter()
        if self.total >= MAX_OBSERVATIONS or self.per_client[client] >= MAX_PER_CLIENT:
            return False
        self.total += 1
        self.per_client[client] += 1
        return True


def observation(serving: str, canary: str, client: str, answered_by: str, serving_p: List[float],
                serving_threshold: float, serving_ms: float, canary_p: Optional[List[float]], canary_threshold: float,
                canary_ms: Optional[float], error: Optional[str]) -> tuple:
    """The store row of one request (see ``Store.save_observations``): one of its instances, drawn at random;
    its id is ``CLIENT/REQUEST`` (``client`` from :func:`client_key`)."""
    index = random.randrange(len(serving_p))
    p, c = serving_p[index], canary_p[index] if canary_p is not None else None
    agree = None if c is None else int((p >= serving_threshold) == (c >= canary_threshold))
    return (f"{client}/{uuid.uuid4().hex}", canary, serving, timeutil.now().isoformat(),
            answered_by, p, c, agree, serving_ms, canary_ms, error)


def figures(rows: Sequence[dict]) -> Dict[str, Any]:
    """What a canary's observations (``Store.observations``) say: counts, distinct clients, errors, agreement
    (the mean of each client's), median latencies (ms)."""
    fine = [row for row in rows if row["error"] is None]
    serving_ms = [row["serving_ms"] for row in rows]
    canary_ms = [row["canary_ms"] for row in fine]
    serving_median = statistics.median(serving_ms) if serving_ms else None
    canary_median = statistics.median(canary_ms) if canary_ms else None
    by_client: Dict[str, List[int]] = collections.defaultdict(list)
    for row in fine:
        by_client[row["id"].partition("/")[0]].append(row["agree"])
    return {
        "observations": len(rows),
        "clients": len({row["id"].partition("/")[0] for row in rows}),
        "answered_by_canary": sum(1 for row in rows if row["answered_by"] == "canary"),
        "errors": len(rows) - len(fine),
        "agreement": statistics.fmean(sum(agree) / len(agree) for agree in by_client.values()) if fine else None,
        "serving_ms_median": serving_median,
        "canary_ms_median": canary_median,
        "latency_ratio": canary_median / serving_median if canary_median is not None and serving_median else None,
    }


def shortfalls(found: Dict[str, Any], policy: Policy) -> List[str]:
    """Why a canary does not hold (empty: it holds)."""
    reasons = []
    if found["observations"] < policy.min_requests:
        reasons.append(f"{found['observations']} observations, fewer than {policy.min_requests}")
    clients = min(policy.min_clients, policy.min_requests)
    if found["clients"] < clients:
        reasons.append(f"observations from {found['clients']} clients, fewer than {clients}")
    if found["errors"] > policy.max_errors:
        reasons.append(f"{found['errors']} errors, more than {policy.max_errors}")
    if found["agreement"] is not None and found["agreement"] < policy.min_agreement:
        reasons.append(f"agreement {found['agreement']:.3f}, below {policy.min_agreement}")
    if found["latency_ratio"] is not None and found["latency_ratio"] > policy.max_latency_ratio:
        reasons.append(f"latency {found['latency_ratio']:.2f}x the serving model's, over {policy.max_latency_ratio}x")
    return reasons


def decide(registry, policy: Policy, force: bool = False, operator: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """Decide the registry's canary once its soak is over (or ``force``): promote or roll back it.

    None without a canary; ``{"decision": "soaking", ...}`` while it soaks; otherwise
    ``"promoted"`` or ``"rolled back"`` with the figures and the reasons, also kept on its row.
    ``operator`` ("promote" or "rollback") decides now, whatever the figures say. A canary whose
    row is unusable (``problem``) is rolled back, unless the operator promotes it.
    """
    canary = registry.canary()
    if canary is None:
        return None
    found = figures(registry.observations(canary["stamp"], MAX_OBSERVATIONS * REPLICAS_READ))
    result = {"stamp": canary["stamp"], "share": canary["canary_share"], "until": canary["canary_until"],
              "figures": found}
    if operator is not None:
        reasons = [] if operator == "promote" else ["rolled back by the operator"]
        result = dict(result, operator=operator)
    elif canary["problem"]:
        reasons = [f"its row is unusable: {canary['problem']}"]
    else:
        until = datetime.datetime.fromisoformat(canary["canary_until"])
        if not force and timeutil.now() < until:
            return dict(result, decision="soaking")
        reasons = shortfalls(found, policy)
    result = dict(result, decision="rolled back" if reasons else "promoted", reasons=reasons,
                  criteria=dataclasses.asdict(policy))
    if reasons:
        registry.roll_back(canary["stamp"], result)
    else:
        registry.promote(canary["stamp"], result)
    return result


def describe(result: Dict[str, Any]) -> str:
    """One line about a canary decision for the pipeline's and ``canary``'s output."""
    found = result["figures"]
    numbers = (f"{found['observations']} observations ({found['answered_by_canary']} answered by it) from "
               f"{found['clients']} clients, "
               f"{found['errors']} errors, agreement "
               + ("n/a" if found["agreement"] is None else f"{found['agreement']:.3f}")
               + ", latency " + ("n/a" if found["latency_ratio"] is None else f"{found['latency_ratio']:.2f}x"))
    if result["decision"] == "soaking":
        return f"canary {versions.shown(result['stamp'])} soaking until {result['until']} (share {result['share']}): {numbers}"
    why = f" ({'; '.join(result['reasons'])})" if result["reasons"] else ""
    if result.get("operator") == "promote":
        why = " by the operator"
    return f"canary {versions.shown(result['stamp'])} {result['decision']}{why}: {numbers}"

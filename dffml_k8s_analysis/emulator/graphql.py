"""The emulator's GraphQL endpoint: the closed-items query the exporter sends.

GitHub's REST listing has no ``closed_by``, and asking each issue costs one
request per item. GraphQL returns who closed 100 items per request, through
each item's last ``ClosedEvent``. This answers exactly that query's shape
(issues or pull requests, states closed, ordered by ``UPDATED_AT``, with the
``after`` cursor and, for issues, ``filterBy: {since}``); anything else gets
a GraphQL error, as an unsupported field would on GitHub.
"""
import base64
import bisect
import re
from typing import Any, Dict, List

from .. import timeutil
from .sample import Sample, iso

CONNECTION = re.compile(r"\b(issues|pullRequests)\s*\(([^)]*)\)")
DIRECTION = re.compile(r"direction\s*:\s*(ASC|DESC)")


class GraphQLError(Exception):
    """An error GitHub would put in the response's ``errors`` list."""


def answer(sample: Sample, owner: str, repo: str, body: Any) -> Dict[str, Any]:
    """The ``data`` of the response to one query, or raise GraphQLError."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise GraphQLError("A query attribute must be specified and must be a string.")
    variables = body.get("variables") or {}
    if (str(variables.get("owner", "")).lower(), str(variables.get("name", "")).lower()) != (
        owner.lower(), repo.lower()
    ):
        raise GraphQLError(
            "Could not resolve to a Repository with the name '{}/{}'.".format(
                variables.get("owner"), variables.get("name"))
        )
    match = CONNECTION.search(body["query"])
    if match is None or "CLOSED_EVENT" not in body["query"] or "UPDATED_AT" not in match.group(2):
        raise GraphQLError("The emulator answers only the closed-items query of dffml_k8s_analysis.github.closers")
    connection, arguments = match.groups()
    descending = (DIRECTION.search(arguments) or [None, "ASC"])[1] == "DESC"
    since = variables.get("since") if connection == "issues" else None
    nodes, more = _page(sample, connection == "pullRequests", since, variables.get("cursor"), descending)
    end = _cursor(sample, nodes[-1]["number"]) if nodes else None
    return {
        "repository": {connection: {"pageInfo": {"hasNextPage": more, "endCursor": end}, "nodes": nodes}},
        "rateLimit": {"cost": 1},
    }


def _page(sample: Sample, pull_requests: bool, since, cursor, descending: bool, size: int = 100):
    """One page of closed items' nodes, and whether more follow."""
    keys = _closed_keys(sample, pull_requests)
    low = bisect.bisect_left(keys, _epoch(since) * sample.modulus) if since else 0
    if descending:
        high = bisect.bisect_left(keys, _decode(cursor)) if cursor else len(keys)
        chosen = keys[max(low, high - size):high][::-1]
        more = high - size > low
    else:
        start = max(low, bisect.bisect_right(keys, _decode(cursor)) if cursor else low)
        chosen = keys[start:start + size]
        more = start + size < len(keys)
    return [_node(sample, key % sample.modulus) for key in chosen], more


_CACHE: Dict[tuple, tuple] = {}


def _closed_keys(sample: Sample, pull_requests: bool) -> List[int]:
    """Ascending update keys of closed PRs (or issues), cached until the sample changes."""
    source = sample.sorted_keys("updated", "closed")
    cached = _CACHE.get((id(sample), pull_requests))
    if cached is None or cached[0] is not source:
        keys = [key for key in source if bool(sample.is_pr[key % sample.modulus]) == pull_requests]
        cached = _CACHE[(id(sample), pull_requests)] = (source, keys)
    return cached[1]


def _node(sample: Sample, number: int) -> Dict[str, Any]:
    closed_at = iso(sample.closed[number])
    closer = sample.item(number, "", detail=True)["closed_by"]
    actor = None if closer is None or closer["login"] == "ghost" else {"login": closer["login"]}
    return {
        "number": number,
        "updatedAt": iso(sample.updated[number]),
        "closedAt": closed_at,
        "timelineItems": {"nodes": [{"actor": actor, "createdAt": closed_at}]},
    }


def _cursor(sample: Sample, number: int) -> str:
    key = sample.updated[number] * sample.modulus + number
    return base64.b64encode("cursor:v2:{}".format(key).encode()).decode()


def _decode(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor.encode()).decode().split(":")[-1])
    except (ValueError, UnicodeDecodeError):
        raise GraphQLError("`{}` does not appear to be a valid cursor.".format(cursor)) from None


def _epoch(value: str) -> int:
    try:
        return timeutil.epoch(value)
    except ValueError:
        raise GraphQLError("Variable $since of type DateTime was provided invalid value") from None

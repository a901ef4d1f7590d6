"""The emulator's GraphQL endpoint: the repository's issues and pull requests with their timelines.

A query is parsed with graphql-core and answered field by field from objects shaped as GitHub's
schema types (``Repository``, ``Issue``, ``PullRequest``, their ``timelineItems`` of
``LabeledEvent``, ``IssueComment``, ``PullRequestReview``, ... see :mod:`.timeline`): aliases,
variables, inline fragments and named fragments work as on GitHub. The connections take
``first``/``last`` (1 to 100, one of them required), ``after``, ``states``, ``orderBy: UPDATED_AT``
and, for issues, ``filterBy: {since}``; ``timelineItems`` takes ``itemTypes``. ``rateLimit.cost``
follows GitHub's formula: the requests each connection needs (the product of its ancestors'
``first``), summed, divided by 100 and rounded, at least 1. A field the emulator does not know is a
GraphQL error, as an unknown field is on GitHub; an item that does not exist is ``null`` with a
``NOT_FOUND`` error beside the data.
"""
import base64
import bisect
import math
from typing import Any, Callable, Dict, List, Optional, Tuple

import graphql as gql

from .. import timeutil
from . import timeline
from .sample import Sample, iso, node_id

MAX_PAGE = 100
GRAPHQL_LIMIT = 5000
IMPLEMENTS = {"User": {"Actor", "Node"}, "Bot": {"Actor", "Node"}, "Issue": {"Node", "IssueOrPullRequest"},
              "PullRequest": {"Node", "IssueOrPullRequest"}}


class GraphQLError(Exception):
    """An error GitHub would put in the response's ``errors`` list, without data."""


class FieldError(Exception):
    """A field resolved to null with an error beside the data (``type``: GitHub's, e.g. NOT_FOUND)."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def answer(sample: Sample, owner: str, repo: str, body: Any, remaining: int = GRAPHQL_LIMIT,
           reset: float = 0) -> Tuple[Dict[str, Any], int]:
    """The response to one query (``data``, and ``errors`` for fields that failed) and its cost in points;
    a query that cannot run raises GraphQLError."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise GraphQLError("A query attribute must be specified and must be a string.")
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        raise GraphQLError("Variables must be an object")
    try:
        document = gql.parse(body["query"])
    except gql.GraphQLError as error:
        raise GraphQLError(error.message) from None
    operations = [d for d in document.definitions if isinstance(d, gql.OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation != gql.OperationType.QUERY:
        raise GraphQLError("The emulator answers exactly one query operation per document")
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, gql.FragmentDefinitionNode)}
    run = _Run(variables, fragments)
    requests, nodes = run.cost(operations[0].selection_set, 1)
    cost = max(1, math.floor(requests / 100 + 0.5))
    root = {"__typename": "Query",
            "repository": lambda args: _repository(sample, owner, repo, args),
            "rateLimit": {"__typename": "RateLimit", "cost": cost, "limit": GRAPHQL_LIMIT, "nodeCount": nodes,
                          "remaining": max(0, remaining - cost), "used": GRAPHQL_LIMIT - remaining + cost,
                          "resetAt": iso(int(reset))}}
    data = run.project(root, operations[0].selection_set, [])
    return (dict(data=data, errors=run.errors) if run.errors else {"data": data}), cost


class _Run:
    """One query's variables, fragments and the errors met while answering it."""

    def __init__(self, variables: dict, fragments: dict):
        self.variables, self.fragments = variables, fragments
        self.errors: List[dict] = []

    def fields(self, selection_set, typename: Optional[str]):
        """The fields selected on an object of ``typename`` (None: any), through fragments."""
        for selection in selection_set.selections:
            if isinstance(selection, gql.FieldNode):
                yield selection
                continue
            if isinstance(selection, gql.FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    raise GraphQLError(f"Fragment {selection.name.value} was used, but not defined")
                condition, inner = fragment.type_condition, fragment.selection_set
            else:
                condition, inner = selection.type_condition, selection.selection_set
            name = condition.name.value if condition else None
            if typename is None or name is None or name == typename or name in IMPLEMENTS.get(typename, ()):
                yield from self.fields(inner, typename)

    def arguments(self, field) -> dict:
        return {arg.name.value: gql.value_from_ast_untyped(arg.value, self.variables) for arg in field.arguments}

    def cost(self, selection_set, multiplier: int) -> Tuple[int, int]:
        """(requests, nodes) of a selection: each connection costs one request per parent it may be asked for."""
        requests = nodes = 0
        for field in self.fields(selection_set, None):
            args = self.arguments(field)
            size = args.get("first", args.get("last"))
            inner = multiplier
            if size is not None:
                if not isinstance(size, int) or not 1 <= size <= MAX_PAGE:
                    raise GraphQLError(f"Requesting {size} records on the `{field.name.value}` connection exceeds "
                                       f"the `first` limit of {MAX_PAGE} records.")
                requests, nodes, inner = requests + multiplier, nodes + multiplier * size, multiplier * size
            if field.selection_set:
                more = self.cost(field.selection_set, inner)
                requests, nodes = requests + more[0], nodes + more[1]
        return requests, nodes

    def project(self, value: dict, selection_set, path: list) -> Optional[dict]:
        """``value``'s selected fields, by their aliases."""
        typename = value.get("__typename")
        out: Dict[str, Any] = {}
        for field in self.fields(selection_set, typename):
            name = field.name.value
            key = field.alias.value if field.alias else name
            if name not in value:
                raise GraphQLError(f"Field '{name}' doesn't exist on type '{typename}'")
            found = value[name]
            if callable(found):
                try:
                    found = found(self.arguments(field))
                except FieldError as error:
                    self.errors.append({"type": error.kind, "path": path + [key], "message": str(error)})
                    found = None
            out[key] = self.shape(found, field, path + [key])
        return out

    def shape(self, found, field, path: list):
        if field.selection_set is None or found is None:
            if isinstance(found, (dict, list)):
                raise GraphQLError(f"Field '{field.name.value}' must have a selection of subfields.")
            return found
        if isinstance(found, list):
            return [None if item is None else self.project(item, field.selection_set, path + [index])
                    for index, item in enumerate(found)]
        return self.project(found, field.selection_set, path)


def _repository(sample: Sample, owner: str, repo: str, args: dict) -> dict:
    if (str(args.get("owner", "")).lower(), str(args.get("name", "")).lower()) != (owner.lower(), repo.lower()):
        raise FieldError(f"Could not resolve to a Repository with the name '{args.get('owner')}/{args.get('name')}'.",
                         "NOT_FOUND")
    return {"__typename": "Repository", "nameWithOwner": f"{owner}/{repo}",
            "issues": lambda a: _connection(sample, False, a),
            "pullRequests": lambda a: _connection(sample, True, a),
            "issueOrPullRequest": lambda a: _item_or_missing(sample, a.get("number"))}


def _item_or_missing(sample: Sample, number) -> dict:
    if not isinstance(number, int) or not 1 <= number <= sample.count:
        raise FieldError(f"Could not resolve to an issue or pull request with the number of {number}.", "NOT_FOUND")
    return _item(sample, number)


def _item(sample: Sample, number: int) -> dict:
    """An ``Issue`` or ``PullRequest``; what costs a lookup is resolved only when asked for."""
    is_pr = bool(sample.is_pr[number])
    closed = sample.closed[number]
    item: Dict[str, Any] = {
        "__typename": "PullRequest" if is_pr else "Issue", "number": number,
        "id": node_id("PullRequest" if is_pr else "Issue", 100_000_000 + number),
        "createdAt": iso(sample.created[number]), "updatedAt": iso(sample.updated[number]),
        "closedAt": iso(closed) if closed else None, "closed": bool(closed),
        "author": lambda _: timeline.actor(sample.author(number)),
        "timelineItems": lambda args: _timeline(sample, number, is_pr, args),
    }
    if is_pr:
        item["mergedAt"] = lambda _: _merged_at(sample, number)
    return item


def _merged_at(sample: Sample, number: int) -> Optional[str]:
    return sample.item(number, "")["pull_request"]["merged_at"]


def _typename(item_type: str) -> str:
    """``LABELED_EVENT`` -> ``LabeledEvent``."""
    return "".join(word.capitalize() for word in str(item_type).split("_"))


def _timeline(sample: Sample, number: int, is_pr: bool, args: dict) -> dict:
    """A page of the item's timeline items of ``itemTypes`` (all when not given)."""
    wanted = {_typename(t) for t in args.get("itemTypes") or ()}
    found = [event for event in timeline.events(sample, number) if not wanted or event["__typename"] in wanted]
    start = _decode(args["after"], "timeline") if args.get("after") else 0
    end = len(found)
    if args.get("first") is not None:
        end = min(end, start + args["first"])
    elif args.get("last") is not None:
        start = max(start, end - args["last"])
    else:
        raise FieldError("You must provide a `first` or `last` value to properly paginate the `timelineItems` "
                         "connection.", "MISSING_PAGINATION_BOUNDARIES")
    kind = "PullRequestTimelineItemsConnection" if is_pr else "IssueTimelineItemsConnection"
    return {"__typename": kind, "totalCount": len(found), "nodes": found[start:end],
            "pageInfo": _page_info(end < len(found), _encode(end, "timeline") if end > start else None)}


def _page_info(more: bool, end: Optional[str]) -> dict:
    return {"__typename": "PageInfo", "hasNextPage": more, "endCursor": end}


_CACHE: Dict[tuple, tuple] = {}


def _keys(sample: Sample, pull_requests: bool, state: str) -> List[int]:
    """Ascending update keys of the PRs (or issues) in ``state`` (all, open, closed), cached until the sample
    changes."""
    source = sample.sorted_keys("updated", state)
    cached = _CACHE.get((id(sample), pull_requests, state))
    if cached is None or cached[0] is not source:
        keys = [key for key in source if bool(sample.is_pr[key % sample.modulus]) == pull_requests]
        cached = _CACHE[(id(sample), pull_requests, state)] = (source, keys)
    return cached[1]


def _connection(sample: Sample, pull_requests: bool, args: dict) -> dict:
    """A page of issues (or pull requests) ordered by ``updatedAt``."""
    size = args.get("first") or args.get("last")
    if size is None:
        kind = "pullRequests" if pull_requests else "issues"
        raise FieldError(f"You must provide a `first` or `last` value to properly paginate the `{kind}` connection.",
                         "MISSING_PAGINATION_BOUNDARIES")
    order = args.get("orderBy") or {"field": "CREATED_AT", "direction": "ASC"}
    if order.get("field") != "UPDATED_AT":
        raise GraphQLError("The emulator orders issues and pull requests by UPDATED_AT only")
    keep = _state_filter(sample, pull_requests, args.get("states"))
    since = (args.get("filterBy") or {}).get("since") if not pull_requests else None
    keys = _keys(sample, pull_requests, keep[0])
    low = bisect.bisect_left(keys, _epoch(since) * sample.modulus) if since else 0
    cursor = _decode(args["after"], "cursor") if args.get("after") else None
    chosen: List[int] = []
    if order.get("direction") == "DESC":
        high = bisect.bisect_left(keys, cursor) if cursor is not None else len(keys)
        while high > low and len(chosen) < size:
            high -= 1
            chosen += [keys[high]] if keep[1](keys[high] % sample.modulus) else []
        more = high > low
    else:
        start = max(low, bisect.bisect_right(keys, cursor) if cursor is not None else low)
        while start < len(keys) and len(chosen) < size:
            chosen += [keys[start]] if keep[1](keys[start] % sample.modulus) else []
            start += 1
        more = start < len(keys)
    end = _encode(chosen[-1], "cursor") if chosen else None
    kind = "PullRequestConnection" if pull_requests else "IssueConnection"
    return {"__typename": kind, "totalCount": len(keys), "pageInfo": _page_info(more, end),
            "nodes": [_item(sample, key % sample.modulus) for key in chosen]}


def _state_filter(sample: Sample, pull_requests: bool, states) -> Tuple[str, Callable[[int], bool]]:
    """(the sample's state the keys come from, a check of each item) for the ``states`` argument."""
    states = [states] if isinstance(states, str) else states  # a list argument may be given one value
    wanted = set(states or ("OPEN", "CLOSED", "MERGED"))
    if not pull_requests:
        wanted.add("MERGED")
    closed = {"CLOSED", "MERGED"} & wanted
    if "OPEN" in wanted:
        return ("all" if closed else "open"), lambda number: True
    if closed == {"CLOSED", "MERGED"}:
        return "closed", lambda number: True
    merged = "MERGED" in closed
    return "closed", lambda number: (_merged_at(sample, number) is not None) == merged


def _encode(key: int, kind: str) -> str:
    return base64.b64encode(f"{kind}:v2:{key}".encode()).decode()


def _decode(cursor, kind: str) -> int:
    try:
        text = base64.b64decode(str(cursor).encode()).decode()
        if not text.startswith(kind + ":"):
            raise ValueError
        return int(text.split(":")[-1])
    except (ValueError, UnicodeDecodeError):
        raise GraphQLError("`{}` does not appear to be a valid cursor.".format(cursor)) from None


def _epoch(value: str) -> int:
    try:
        return timeutil.epoch(value)
    except (TypeError, ValueError):
        raise GraphQLError("Variable $since of type DateTime was provided invalid value") from None

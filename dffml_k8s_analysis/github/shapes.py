"""The shape of GitHub's answers to the bot's PyGithub calls, checked before PyGithub builds objects of them.

PyGithub builds its objects lazily from whatever JSON comes: a list where GitHub sends an object, a
number where it sends a string, fail later as TypeErrors or BadAttributeExceptions far from the request.
:func:`problem` checks each answer of a route the project calls (:data:`ROUTES`) for the fields the project
reads, and their types; :mod:`.transport` refuses a malformed one in one line naming the request.
"""
import re
from typing import Any, Callable, NamedTuple, Optional

from .. import timeutil


class Null(NamedTuple):
    """``spec``, or null (GitHub's ``body`` of an item without one, the ``user`` of a deleted account)."""

    spec: Any


class Absent(NamedTuple):
    """``spec`` when present (a field GitHub gives only to some items, e.g. an event's ``label``)."""

    spec: Any


class Check(NamedTuple):
    """A value ``test`` accepts, described as ``what``."""

    what: str
    test: Callable[[Any], bool]


def _time(value) -> bool:
    try:
        return isinstance(value, str) and bool(timeutil.parse(value))
    except ValueError:
        return False


MAX_NUMBER = 2**31 - 1  # an issue's number is a GraphQL Int: 32 bits (a larger one overflows the stores)
POSITIVE = Check(f"a whole number from 1 to {MAX_NUMBER}",
                 lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_NUMBER)
TIME = Check("a time like 2024-01-31T12:00:00Z", _time)
LOGIN = {"login": str}
LABEL = {"name": str}
ISSUE = {"body": Null(str), "labels": [LABEL], "url": Absent(str)}  # url: where PyGithub sends its next requests

ITEM = r"/repos/[^/]+/[^/]+/issues/\d+"
ROUTES = [  # (method, path, the answer's shape): the fields the project reads (bot/reconcile.py, report.py, sweep.py)
    ("GET", r"/user", LOGIN),
    ("GET", ITEM, ISSUE),
    ("GET", ITEM + r"/events", [{"event": str, "label": Absent(Null(LABEL)), "actor": Absent(Null(LOGIN))}]),
    ("GET", ITEM + r"/comments", [{"body": Null(str), "user": Null(LOGIN), "url": str}]),
    ("POST", ITEM + r"/comments", {}),
    ("PATCH", r"/repos/[^/]+/[^/]+/issues/comments/\d+", {}),
    ("GET", r"/repos/[^/]+/[^/]+/labels/[^/]+", {"name": str, "color": str}),
    ("GET", r"/repos/[^/]+/[^/]+/issues", [{"number": POSITIVE, "updated_at": TIME}]),
]


def problem_of(method: str, path: str, data) -> Optional[str]:
    """What is wrong with ``data``, the answer to ``method path`` (after the API root's prefix), or None."""
    for verb, route, shape in ROUTES:
        if verb == method and re.search(route + r"\Z", path):
            return problem(data, shape)
    return None


def problem(value, spec, where: str = "") -> Optional[str]:
    """The first place (``labels[0].name``; empty: the answer) where ``value`` is not of ``spec``, in words, or None."""
    wrong = f"{where or 'the answer'} is {_kind(value)}, where GitHub sends {_expected(spec)}"
    if isinstance(spec, Null):
        if value is None:
            return None
        spec = spec.spec
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return wrong
        for name, inner in spec.items():
            if name not in value:
                if isinstance(inner, Absent):
                    continue
                return f"{where}{'.' * bool(where)}{name} is missing, where GitHub sends {_expected(inner)}"
            found = problem(value[name], inner.spec if isinstance(inner, Absent) else inner,
                            f"{where}{'.' * bool(where)}{name}")
            if found:
                return found
        return None
    if isinstance(spec, list):
        if not isinstance(value, list):
            return wrong
        return next((found for index, item in enumerate(value)
                     for found in [problem(item, spec[0], f"{where}[{index}]")] if found), None)
    if isinstance(spec, Check):
        return None if spec.test(value) else wrong
    return None if isinstance(value, spec) and not isinstance(value, bool) else wrong


def _kind(value) -> str:
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    shown = repr(value)
    return {type(None): "null", bool: "a boolean", str: "a string"}.get(type(value), "a number") + (
        f" ({shown[:40]})" if value is not None and not isinstance(value, bool) else "")


def _expected(spec) -> str:
    if isinstance(spec, (Null, Absent)):
        return _expected(spec.spec) + (" or null" if isinstance(spec, Null) else "")
    if isinstance(spec, Check):
        return spec.what
    return "an object" if isinstance(spec, dict) else "a list" if isinstance(spec, list) else "a string"

"""What the analysis needs of a raw issue or PR, derived once when the store writes it.

``derive(raw)`` checks an item the way the records and the views need it (an integer number,
GitHub's ``YYYY-MM-DDTHH:MM:SSZ`` created/updated/closed times) and returns its row of the store's
``derived`` table and its label names (in order, repeats kept), or raises :class:`Malformed`.
Times become epoch seconds (UTC), so a view groups them as integers.
"""
from typing import Any, List, NamedTuple, Optional, Tuple

from . import timeutil
from .notes import release_note


class Malformed(ValueError):
    """A raw item that cannot become a record (counted, never fatal)."""


class Derived(NamedTuple):
    """One row of the ``derived`` table (``problem`` is None: the item is well formed)."""

    number: int
    problem: Optional[str]
    pull_request: Optional[int]
    state: Optional[str]
    created_at: Optional[int]
    updated_at: Optional[int]
    closed_at: Optional[int]
    author: Optional[str]
    closed_by: Optional[str]
    release_note: Optional[str]
    action_required: Optional[int]


def epoch(value: Any, number: int, key: str) -> int:
    """GitHub's timestamp as epoch seconds; Malformed when it is none."""
    if not isinstance(value, str):
        raise Malformed(f"#{number}: no {key}")
    try:
        return timeutil.epoch(value)
    except ValueError:
        raise Malformed(f"#{number}: {key} is not a timestamp: {value[:40]!r}") from None


def _login(user: Any) -> Optional[str]:
    login = user.get("login") if isinstance(user, dict) else None
    return login if isinstance(login, str) else None


def derive(raw: Any) -> Tuple[Derived, List[str]]:
    """The ``derived`` row and label names of a raw item; raises Malformed (see module docstring)."""
    if not isinstance(raw, dict):
        raise Malformed(f"not an object: {type(raw).__name__}")
    number = raw.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise Malformed(f"no number: {number!r}")
    created, updated = epoch(raw.get("created_at"), number, "created_at"), epoch(raw.get("updated_at"), number, "updated_at")
    closed = None if raw.get("closed_at") is None else epoch(raw["closed_at"], number, "closed_at")
    labels = [label.get("name") for label in raw.get("labels") or [] if isinstance(label, dict)]
    is_pr = isinstance(raw.get("pull_request"), dict)
    note = release_note(raw.get("body")) if is_pr else None
    row = Derived(number, None, int(is_pr), raw.get("state") or "", created, updated, closed, _login(raw.get("user")),
                  _login(raw.get("closed_by")), note.text if note else None, int(bool(note and note.action_required)))
    return row, [name for name in labels if isinstance(name, str)]


def problem_row(number: int, problem: str) -> Derived:
    """The row of an item that is not well formed: its number and what is wrong."""
    return Derived(number, problem, *[None] * (len(Derived._fields) - 2))

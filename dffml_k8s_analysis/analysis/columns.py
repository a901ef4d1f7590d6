"""The store's derived columns as numpy arrays: what every view reads, loaded once per analysis.

One ``Items`` holds the well-formed items (by number) and their labels as two parallel arrays
(the item's index, the label's code into ``names``). Times are epoch seconds (UTC).
"""
import itertools
from typing import Any, List, Tuple

import numpy

from ..records.selection import SUBSETS, Filter
from ..store import open_store
from ..store.derived import Columns


class Items:
    """Columns of items: ``number``, ``pull_request``, ``created``, ``closed`` (``is_closed`` says where it
    holds one), ``author``, ``closed_by`` (None: unknown), ``noted`` (a release note), ``action_required``;
    labels: ``label_item``, ``label_code`` and the ``names`` the codes index."""

    def __init__(self, columns: Columns):
        rows = columns.items
        number, pr, created, closed, author, closed_by, noted, action = (
            list(column) for column in zip(*rows)) if rows else ([],) * 8
        self.number = numpy.array(number, dtype=numpy.int64)
        self.pull_request = numpy.array(pr, dtype=bool)
        self.created = numpy.array(created, dtype=numpy.int64)
        closed_at = numpy.array(closed, dtype=float)  # None: nan
        self.is_closed = ~numpy.isnan(closed_at)
        self.closed = numpy.where(self.is_closed, closed_at, 0).astype(numpy.int64)
        self.author = numpy.array(author, dtype=object)
        self.closed_by = numpy.array(closed_by, dtype=object)
        self.noted = numpy.array(noted, dtype=bool)
        self.action_required = numpy.array(action, dtype=bool)
        self.names: List[str] = list(columns.labels)
        uses = [len(numbers) for numbers in columns.labels.values()]
        label_numbers = numpy.fromiter(itertools.chain.from_iterable(columns.labels.values()), numpy.int64, sum(uses))
        label_codes = numpy.repeat(numpy.arange(len(uses)), uses)
        index = numpy.searchsorted(self.number, label_numbers)
        known = index < len(self.number)
        known[known] &= self.number[index[known]] == label_numbers[known]  # labels of a malformed item: none
        self.label_item, self.label_code = index[known], label_codes[known]

    def __len__(self) -> int:
        return len(self.number)

    def __repr__(self) -> str:  # DFFML logs every operation's inputs with str()
        return f"<{len(self)} items>"

    def take(self, mask: numpy.ndarray) -> "Items":
        """The items where ``mask`` holds, with their labels."""
        chosen = object.__new__(Items)
        for name in ("number", "pull_request", "created", "is_closed", "closed", "author", "closed_by", "noted",
                     "action_required"):
            setattr(chosen, name, getattr(self, name)[mask])
        keep = mask[self.label_item]
        chosen.label_item = (numpy.cumsum(mask) - 1)[self.label_item[keep]]
        chosen.label_code, chosen.names = self.label_code[keep], self.names
        return chosen

    def subset(self, subset: str) -> "Items":
        """``all``, ``issues`` or ``pull_requests``."""
        if subset not in SUBSETS:
            raise ValueError(f"subset must be one of {sorted(SUBSETS)}, got {subset!r}")
        return self if subset == "all" else self.take(self.pull_request == (subset == "pull_requests"))

    def matching(self, keep: Filter) -> numpy.ndarray:
        """Per item, whether ``keep.item`` keeps its labels (any matches include, none matches exclude)."""
        kept = numpy.ones(len(self), dtype=bool)
        for pattern, wanted in ((keep.include, True), (keep.exclude, False)):
            if pattern is not None:
                hit = numpy.zeros(len(self), dtype=bool)
                hit[self.label_item[names_matching(self.names, pattern.search)[self.label_code]]] = True
                kept &= hit if wanted else ~hit
        return kept

    def label_counts(self, mask: Any = None) -> numpy.ndarray:
        """Uses of each label code, over the items where ``mask`` holds (all: None)."""
        codes = self.label_code if mask is None else self.label_code[mask[self.label_item]]
        return numpy.bincount(codes, minlength=len(self.names))


def names_matching(names: List[str], test) -> numpy.ndarray:
    """A bool per name: whether ``test(name)`` is true."""
    return numpy.array([bool(test(name)) for name in names], dtype=bool)


def load(path) -> Tuple[Items, List[str]]:
    """Every well-formed item of a store as columns, and one message per malformed item."""
    with open_store(path) as store:
        columns = store.derived_columns()
    return Items(columns), columns.problems
